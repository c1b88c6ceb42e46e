"""Explanation benchmarks: what ``serving: {explain: inline}`` costs a request, and what it does not cost
when off.

One credit-scoring version in production per model kind (a logistic regression: exact terms; a
histogram gradient-boosting model: sampled baseline Shapley), served twice by `govflow serve`'s app
in-process (Starlette's TestClient, one request at a time, single records; every prediction committed
before its answer): once at the default (``explain: off``: nothing computed on the request path) and
once with ``explain: inline`` (each answer carries its explanation, recorded in the ledger). Printed:
median latency (p10/p90) per mode and the inline/off ratio. Requests alternate between the two apps, so
load from elsewhere hits both alike. ``govflow explain ID`` on a logged decision (the later path) is
timed by bench_search.py (b). ``--quick``: fewer requests.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

import yaml  # noqa: E402

from govflow.governance.config import parse_config  # noqa: E402
from govflow.governance.ledger.engine import Ledger  # noqa: E402

QUICK = "--quick" in sys.argv
REQUESTS = {"logistic_regression": 40 if QUICK else 200, "hist_gradient_boosting": 10 if QUICK else 60}


def config(estimator: str, mode: str) -> Any:
    from tests.trail.explain_helpers import CONFIG, DATA

    raw = yaml.safe_load(CONFIG.read_text())
    raw["data"]["train"] = str(DATA)
    raw["model"]["estimator"] = estimator
    raw["serving"] = {"explain": mode}
    return parse_config(raw, CONFIG.parent, source=str(CONFIG))


def spread(values: list[float]) -> str:
    q = statistics.quantiles(values, n=10)
    return f"median {statistics.median(values):7.2f} ms (p10 {q[0]:.2f}, p90 {q[-1]:.2f})"


def bench(estimator: str) -> None:
    from fastapi.testclient import TestClient

    from govflow.web.app import create_app
    from tests.trail.explain_helpers import in_production, requests

    bodies = [json.dumps(r).encode() for r in requests(200)]
    times: dict[str, list[float]] = {"off": [], "inline": []}
    with tempfile.TemporaryDirectory() as off_home, tempfile.TemporaryDirectory() as inline_home:
        ledgers = {"off": Ledger.open(home=Path(off_home)), "inline": Ledger.open(home=Path(inline_home))}
        for mode, ledger in ledgers.items():
            in_production(ledger, config(estimator, mode))
        clients = {mode: TestClient(create_app(ledger), client=("127.0.0.1", 50000)) for mode, ledger in ledgers.items()}
        for client in clients.values():
            client.__enter__()
        try:
            for i in range(REQUESTS[estimator] + 5):
                for mode in (("off", "inline") if i % 2 == 0 else ("inline", "off")):
                    started = time.perf_counter()
                    answer = clients[mode].post("/predict/credit-scoring", content=bodies[i % len(bodies)],
                                                headers={"content-type": "application/json"})
                    took = (time.perf_counter() - started) * 1000
                    if answer.status_code != 200:
                        raise RuntimeError(f"{mode}: {answer.status_code} {answer.text[:300]}")
                    explained = "explanation" in answer.json()["predictions"][0]
                    if explained != (mode == "inline") or "error" in answer.json()["predictions"][0].get("explanation", {}):
                        raise RuntimeError(f"{mode}: explanation {'missing' if mode == 'inline' else 'present'}: {answer.text[:300]}")
                    if i >= 5:  # the first requests load the model (and the baseline): warm-up
                        times[mode].append(took)
        finally:
            for client in clients.values():
                client.__exit__(None, None, None)
            for ledger in ledgers.values():
                ledger.close()
    off, inline = statistics.median(times["off"]), statistics.median(times["inline"])
    print(f"  {estimator} ({len(times['off'])} requests per mode)", flush=True)
    print(f"    explain: off     {spread(times['off'])}")
    print(f"    explain: inline  {spread(times['inline'])}")
    print(f"    inline / off (medians) {inline / off:.2f}; inline adds {inline - off:.1f} ms per single-record request",
          flush=True)


def main() -> None:
    import logging

    import structlog

    # The app's per-request log lines are the same in both modes; kept off the figures' output.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    print("(a) POST /predict latency, single records one at a time, in-process app, SQLite: explain off vs inline "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)", flush=True)
    for estimator in REQUESTS:
        bench(estimator)


if __name__ == "__main__":
    main()
