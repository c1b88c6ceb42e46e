"""Your own FastAPI service, instrumented: what `govflow.web.instrument` costs.

The example app (examples/own-service: the team's own scikit-learn pipeline behind ``POST /score``)
under two real uvicorn servers side by side: as the team wrote it (``app:create_app``, nothing
recorded) and with the two govflow lines (``app:app``: every answer only once its prediction is
durable, group commit). Concurrency 32 (32 keep-alive connections, each sending one single-record
request at a time), alternating rounds. Target: ratio >= 0.8, as `govflow serve` meets against its
own unrecorded baseline (bench_serving.py). The instrumented server's new rows are then counted
against its 200s. Rates are also given per CPU-second of each server process, which load from
elsewhere on the (shared, 2-core) machine does not inflate. SQLite, and PostgreSQL when reachable (``GOVFLOW_TEST_PG_URL``).
``--quick``: shorter rounds; ``--backend sqlite|postgresql``: only that one.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serving import CONCURRENCY, QUICK, ROOT, backends, show  # noqa: E402

from govflow.governance.ledger.engine import Ledger  # noqa: E402

ROUNDS, ROUND_S, WARMUP_S = (2, 2.0, 1.0) if QUICK else (6, 6.0, 3.0)


def cpu_seconds(pid: int) -> float:
    """The CPU time (user + system) a process and its live children (the ledger writer process on
    PostgreSQL) have used so far (Linux /proc)."""
    import os

    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # a child that just ended
        return 0.0
    total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        total += sum(cpu_seconds(int(child)) for child in children.read_text().split())
    return total


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
            status, _, _ = await connection.post("/score", bodies[i % len(bodies)])
            i += CONCURRENCY
            ok, other = (ok + 1, other) if status == 200 else (ok, other + 1)
        await connection.close()

    await asyncio.gather(*(worker(n) for n in range(CONCURRENCY)))
    return ok, other


def bench(tmp: Path) -> None:
    from contextlib import ExitStack

    from tests.web.instrument.helpers import own_service, train_example_model
    from tests.web.serving.helpers import counts, put_in_production, records

    print(f"own FastAPI service (examples/own-service), requests/s at concurrency {CONCURRENCY}, single-record "
          f"requests, {ROUNDS} alternating rounds of {ROUND_S:.0f} s per mode, real uvicorn servers", flush=True)
    bodies = [json.dumps(r).encode() for r in records(1000)]
    model = train_example_model(tmp / "model.joblib")
    for name, db, home in backends(tmp):
        home.mkdir(parents=True, exist_ok=True)
        ledger = Ledger.open(db, home)
        put_in_production(ledger)
        rates: dict[str, list[float]] = {"instrumented": [], "own": []}
        per_cpu: dict[str, list[float]] = {"instrumented": [], "own": []}
        answered = 0
        with ExitStack() as stack:
            ports = {"own": stack.enter_context(own_service(ledger, model, target="app:create_app", factory=True)),
                     "instrumented": stack.enter_context(own_service(ledger, model))}
            port = {mode: int(base.rsplit(":", 1)[1]) for mode, (base, _) in ports.items()}
            pid = {mode: process.pid for mode, (_, process) in ports.items()}
            before = counts(ledger)[0]
            for mode in port:
                ok, _ = asyncio.run(load(port[mode], bodies, WARMUP_S))
                answered += ok if mode == "instrumented" else 0
            for r in range(ROUNDS):
                for mode in (("own", "instrumented") if r % 2 == 0 else ("instrumented", "own")):
                    started, cpu = time.perf_counter(), cpu_seconds(pid[mode])
                    ok, other = asyncio.run(load(port[mode], bodies, ROUND_S))
                    if other:
                        raise RuntimeError(f"{other} non-200 answers from the {mode} server")
                    rates[mode].append(ok / (time.perf_counter() - started))
                    per_cpu[mode].append(ok / max(cpu_seconds(pid[mode]) - cpu, 1e-9))
                    answered += ok if mode == "instrumented" else 0
            recorded = counts(ledger)[0] - before
        ledger.close()
        print(f"  {name}:")
        base_rate = show("  the app as written (nothing recorded)", rates["own"], "req/s")
        rate = show("  instrumented: govflow.web.instrument", rates["instrumented"], "req/s")
        show("  ratio per round (instrumented / as written)", [a / b for a, b in zip(rates["instrumented"], rates["own"])],
             "", digits=3)
        own_cpu = show("  the app as written: requests per server CPU-second", per_cpu["own"], "req/s")
        ins_cpu = show("  instrumented: requests per server CPU-second", per_cpu["instrumented"], "req/s")
        print(f"    per CPU-second of the server (what load from elsewhere does not inflate): ratio {ins_cpu / own_cpu:.3f}")
        print(f"    ratio of medians {rate / base_rate:.3f}  target >= 0.8; the instrumented server answered {answered} "
              f"requests 200 and the ledger holds {recorded} new predictions", flush=True)
        if recorded != answered:
            raise RuntimeError(f"{answered} answered but {recorded} recorded")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="govflow-bench-own-") as tmp:
        bench(Path(tmp))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
