"""Serving benchmarks: what the prediction audit trail costs.

(a) Requests per second through real uvicorn servers, concurrency 32 (32 keep-alive connections, each
    sending one single-record request at a time): `govflow serve`'s app, which answers only once the
    prediction is committed (group commit), against the benchmark baseline
    (``create_app(..., benchmark_baseline_unrecorded=True)``: nothing recorded), same run, both servers
    up side by side and measured in alternating rounds. Target: ratio >= 0.8. SQLite, and PostgreSQL
    when reachable. The recorded server's rows are then counted against its 200s.
(b) Ledger ingest of predictions in batches (`govflow.governance.trail.predictions.write_predictions`: one
    transaction and one audit entry per batch), from validated records to durable rows, record
    building included. Target: >= 20,000 rows/s. SQLite and PostgreSQL.
(c) `trace prediction` with 1,000,000 predictions logged: 200 random predictions traced by id (and
    by request id), each through a fresh `ledger.read()` as `GET /audit/predictions/{id}` does.
    Target: median <= 20 ms. SQLite and PostgreSQL. The version traced is made by the real recorded
    train and gate flows, so the trace walks a real training run, its data sets and ~120 check
    results; the 1M rows go in through the batch path of (b). The SQLite ledger is kept in bench/out/.

Figures are medians with p10/p90 (the spread). The machine has 2 cores shared with whatever else runs:
rates are also given per CPU-second of this process, which load from elsewhere does not inflate.
PostgreSQL comes from ``GOVFLOW_TEST_PG_URL``. ``--quick``: smaller sizes, a smoke test of the script.
``--only requests,ingest,trace`` (any of them, comma-separated): run only those parts;
``--backend sqlite`` or ``--backend postgresql``: only that backend.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")  # a loaded machine starts it slowly
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="govflow-bench-prefect-"))  # before Prefect is imported

from serving_common import BACKENDS, backends, pg_database, show  # noqa: E402

from govflow import canonical as canon  # noqa: E402
from govflow.governance.ledger.engine import Ledger  # noqa: E402

QUICK = "--quick" in sys.argv
PARTS = ("requests", "ingest", "trace")


def chosen_parts(argv: list[str]) -> tuple[str, ...]:
    """The parts ``--only a,b`` (or ``--only=a,b``) names; all of them without it."""
    for i, arg in enumerate(argv):
        if arg == "--only" or arg.startswith("--only="):
            value = arg.partition("=")[2] if "=" in arg else (argv[i + 1] if i + 1 < len(argv) else "")
            picked = tuple(p.strip() for p in value.split(",") if p.strip())
            unknown = sorted(set(picked) - set(PARTS))
            if unknown or not picked:
                raise SystemExit(f"--only: choose among {', '.join(PARTS)} (comma-separated); got '{value}'")
            return picked
    return PARTS


OUT = Path(__file__).resolve().parent / "out"
CONCURRENCY = 32
ROUNDS, ROUND_S, WARMUP_S = (2, 2.0, 1.0) if QUICK else (6, 6.0, 3.0)
INGEST_BATCHES = 4 if QUICK else 12
TRACE_ROWS = 20_000 if QUICK else 1_000_000
TRACE_SAMPLES = 50 if QUICK else 200


# --- (a) requests per second -----------------------------------------------------------------------

def serve_main(mode: str, db: str, home: str, port: int) -> None:
    """Child process: one server, the recorded app or the unrecorded baseline, same uvicorn setup."""
    from govflow import settings

    settings.configure(Path(home))
    from govflow.web.app import create_app, run

    ledger = Ledger.open(db or None, home)
    app = create_app(ledger, benchmark_baseline_unrecorded=mode == "baseline")
    run(ledger, host="127.0.0.1", port=port, app=app)


def start_server(mode: str, db: str | None, home: Path) -> tuple[subprocess.Popen[bytes], int]:
    import socket

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    log = open(home / f"serve-{mode}.log", "wb")  # noqa: SIM115 - lives as long as the server
    process = subprocess.Popen([sys.executable, __file__, "--serve", mode, db or "", str(home), str(port)],
                               stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the {mode} server exited: {(home / f'serve-{mode}.log').read_text()[-1500:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return process, port
        except httpx.HTTPError:
            time.sleep(0.3)
    raise RuntimeError(f"the {mode} server did not start within 180 s")


async def load(port: int, bodies: list[bytes], seconds: float) -> tuple[int, int]:
    """(200 answers, other answers) from `CONCURRENCY` closed-loop connections during ``seconds``."""
    from tests.web.serving.rawhttp import Connection

    ok, other = 0, 0
    deadline = time.perf_counter() + seconds

    async def worker(n: int) -> None:
        nonlocal ok, other
        connection = await Connection("127.0.0.1", port).open()
        i = n
        while time.perf_counter() < deadline:
            status, _, _ = await connection.post("/predict/credit-scoring", bodies[i % len(bodies)])
            i += CONCURRENCY
            if status == 200:
                ok += 1
            else:
                other += 1
        await connection.close()

    await asyncio.gather(*(worker(n) for n in range(CONCURRENCY)))
    return ok, other


def bench_requests(tmp: Path) -> None:
    from tests.web.serving.helpers import counts, put_in_production, records

    print(f"(a) requests/s, concurrency {CONCURRENCY}, single-record requests, {ROUNDS} alternating rounds of "
          f"{ROUND_S:.0f} s per mode, real uvicorn servers", flush=True)
    bodies = [json.dumps(r).encode() for r in records(1000)]
    for name, db, home in backends(tmp):
        home.mkdir(parents=True, exist_ok=True)
        ledger = Ledger.open(db, home)
        put_in_production(ledger)
        servers = {mode: start_server(mode, db, home) for mode in ("recorded", "baseline")}
        rates: dict[str, list[float]] = {"recorded": [], "baseline": []}
        answered = 0
        try:
            before = counts(ledger)[0]
            for mode, (_, port) in servers.items():
                ok, _ = asyncio.run(load(port, bodies, WARMUP_S))
                answered += ok if mode == "recorded" else 0
            for r in range(ROUNDS):
                for mode in (("baseline", "recorded") if r % 2 == 0 else ("recorded", "baseline")):
                    started = time.perf_counter()
                    ok, other = asyncio.run(load(servers[mode][1], bodies, ROUND_S))
                    if other:
                        raise RuntimeError(f"{other} non-200 answers from the {mode} server")
                    rates[mode].append(ok / (time.perf_counter() - started))
                    answered += ok if mode == "recorded" else 0
            recorded_rows = counts(ledger)[0] - before
        finally:
            for process, _ in servers.values():
                process.send_signal(signal.SIGTERM)
                process.wait(60)
            ledger.close()
        print(f"  {name}:")
        base = show("  recording off (benchmark baseline)", rates["baseline"], "req/s")
        rec = show("  with the audit trail (group commit)", rates["recorded"], "req/s")
        ratios = [a / b for a, b in zip(rates["recorded"], rates["baseline"])]
        show("  ratio per round (audit trail / off)", ratios, "", digits=3)
        print(f"    ratio of medians {rec / base:.3f}  target >= 0.8; the recorded server answered {answered} "
              f"requests 200 and the ledger holds {recorded_rows} new predictions", flush=True)
        if recorded_rows != answered:
            raise RuntimeError(f"{answered} answered but {recorded_rows} recorded")


# --- (b) ingest ------------------------------------------------------------------------------------

def make_batch(served: Any, valid: list[Any], outputs: list[Any], size: int, caller: str = "bench") -> list[Any]:
    """``size`` records as single-record requests make them (each its own request id)."""
    from govflow.governance.ledger.ids import new_id
    from govflow.governance.trail import predictions as preds

    now = canon.utc_now()
    n = len(valid)
    return [preds.make_record(request_id=new_id(), system=served.version.system, model_version_id=served.version.id,
                              output=outputs[i % n], valid=valid[i % n], latency_ms=1.0 + (i % 7) / 10, served_at=now,
                              caller=caller, redaction=served.redaction) for i in range(size)]


def scored(ledger: Ledger) -> tuple[Any, list[Any], list[Any]]:
    from govflow.flows.serving import load_production
    from tests.web.serving.helpers import records

    served = load_production(ledger, "credit-scoring")
    valid = served.schema.validate(records(1000))
    return served, valid, served.predict(valid)


def bench_ingest(tmp: Path) -> None:
    from govflow.governance.trail import predictions as preds
    from tests.web.serving.helpers import put_in_production

    print(f"(b) ledger ingest of predictions, {INGEST_BATCHES} batches per size (one transaction + one audit entry "
          "each; building the records included)", flush=True)
    for name, db, home in backends(tmp):
        ledger = Ledger.open(db, home)
        put_in_production(ledger)
        served, valid, outputs = scored(ledger)
        preds.write_predictions(ledger, make_batch(served, valid, outputs, 500))  # warm up
        for size in (1000, 5000):
            wall, cpu = [], []
            for _ in range(INGEST_BATCHES):
                started, cpu_started = time.perf_counter(), time.process_time()
                receipt = preds.write_predictions(ledger, make_batch(served, valid, outputs, size))
                wall.append(size / (time.perf_counter() - started))
                cpu.append(size / (time.process_time() - cpu_started))
                assert receipt.written == size
            show(f"{name}, batches of {size:,}: rows/s wall", wall, "rows/s", digits=0, target="target >= 20,000")
            show(f"{name}, batches of {size:,}: rows per CPU-second", cpu, "rows/s", digits=0)
        ledger.close()


# --- (c) trace with 1M predictions -----------------------------------------------------------------

def real_version(ledger: Ledger) -> None:
    """credit-scoring:1 through the real recorded train and gate flows, approved and promoted."""
    from govflow.flows.gate import gate_flow
    from govflow.flows.recording import set_ledger
    from govflow.flows.train import train_flow
    from govflow.governance.registry import versions as registry
    from tests.web.serving.helpers import CONFIG

    set_ledger(ledger)
    try:
        version = train_flow(str(CONFIG)).version
        gate_flow(str(CONFIG), version)
        roles = ["model_owner", "risk_officer"]
        for role in roles:
            registry.approve(ledger, version, approver=f"bench {role}", role=role, reason="benchmark", required_roles=roles)
        registry.promote(ledger, version, by="bench", required_roles=roles)
    finally:
        set_ledger(None)


def fill(ledger: Ledger, rows: int) -> tuple[list[str], float]:
    """``rows`` predictions through the batch path; returns a sample of ids and the rows/s."""
    from govflow.governance.ledger.schema import Prediction
    from govflow.governance.trail import predictions as preds

    served, valid, outputs = scored(ledger)
    with ledger.read() as conn:
        from sqlalchemy import func, select

        have = conn.execute(select(func.count()).select_from(Prediction)).scalar_one()
    sample: list[str] = []
    started = time.perf_counter()
    added = 0
    while have + added < rows:
        batch = make_batch(served, valid, outputs, min(5000, rows - have - added))
        preds.write_predictions(ledger, batch)
        sample += [r.id for r in batch[::250]]
        added += len(batch)
        if added % 100_000 < 5000:
            print(f"    ... {have + added:,} predictions", flush=True)
    return sample, added / max(time.perf_counter() - started, 1e-9)


def time_traces(ledger: Ledger, ids: list[str], request_ids: bool = False) -> list[float]:
    from govflow.governance.ledger.schema import Prediction
    from govflow.governance.trail.predictions import trace_prediction

    if request_ids:
        from sqlalchemy import select

        with ledger.read() as conn:
            ids = [conn.execute(select(Prediction.request_id).where(Prediction.id == i)).scalar_one() for i in ids]
    for i in ids[:10]:  # warm up
        with ledger.read() as conn:
            trace_prediction(conn, i)
    samples = []
    for i in ids:
        started = time.perf_counter()
        with ledger.read() as conn:
            found = trace_prediction(conn, i)
        samples.append(time.perf_counter() - started)
        assert found["training_run"] and found["checks_at_approval"]["results"]
    return samples


def bench_trace(tmp: Path) -> None:
    print(f"(c) trace prediction with {TRACE_ROWS:,} predictions logged ({TRACE_SAMPLES} random ones)", flush=True)
    if "sqlite" in BACKENDS:
        trace_one("SQLite", None, OUT / f"trace-ledger-{TRACE_ROWS}")  # kept: built once, reused by later runs
    if "postgresql" in BACKENDS:
        with pg_database() as url:
            if url:
                trace_one("PostgreSQL", url, tmp / "pg")


def trace_one(name: str, db: str | None, home: Path) -> None:
    fresh = db is not None or not (home / "sample-ids.json").exists()
    ledger = Ledger.open(db, home)
    if fresh and ledger.head()[0] <= 1:
        started = time.perf_counter()
        real_version(ledger)
        print(f"    {name}: credit-scoring:1 trained, gated, approved and promoted by the real flows in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
    sample_file = home / "sample-ids.json"
    sample, rate = fill(ledger, TRACE_ROWS)
    if sample:
        print(f"    {name}: {len(sample) * 250:,} predictions ingested at {rate:,.0f} rows/s wall", flush=True)
        if db is None:
            sample = sample + (json.loads(sample_file.read_text()) if sample_file.exists() else [])
            sample_file.write_text(json.dumps(sample))
    else:
        sample = json.loads(sample_file.read_text())
        print(f"    {name}: reusing {home} ({TRACE_ROWS:,} predictions)", flush=True)
    picked = random.Random(1).sample(sample, min(TRACE_SAMPLES, len(sample)))
    show(f"{name}: trace by prediction id", time_traces(ledger, picked), "ms", 1e3, "target <= 20 ms", digits=2)
    show(f"{name}: trace by request id", time_traces(ledger, picked[:50], request_ids=True), "ms", 1e3, digits=2)
    ledger.close()


def main() -> None:
    parts = chosen_parts(sys.argv[1:])
    with tempfile.TemporaryDirectory(prefix="govflow-bench-serving-") as tmp:
        if "requests" in parts:
            bench_requests(Path(tmp) / "requests")
        if "ingest" in parts:
            bench_ingest(Path(tmp) / "ingest")
        if "trace" in parts:
            bench_trace(Path(tmp) / "trace")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve_main(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        main()
