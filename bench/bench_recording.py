"""Recording benchmarks: what govflow's @task/@flow cost over Prefect's own, in one run.

(a) a flow of 100 trivial tasks, plain Prefect (`prefect.task`, no cache) against govflow's recorded
    variant (every task written to the SQLite ledger, synchronously, with its audit entry; the flow's
    own start and end rows; its Prefect artifacts are queued for govflow's publisher thread), run
    in alternation so both see the same machine; the figure is the median of the per-pair ratios
    of the flows' run time (from the flow body's start to the flow's return; the whole call and
    this process's CPU time, publisher thread included, beside it).
    Target: ratio <= 1.20.
(b) a task whose input is a 1,000,000-row frame, plain against recorded: what recording adds
    (fingerprinting every cell, the schema, the ledger write). Target: <= 0.3 s.
(c) what live OpenLineage emission (file transport) adds per recorded task. No target.

Prefect runs on its ephemeral API (a temporary server, started once, first flow excluded). The
machine is noisy: ratios of interleaved runs matter, not absolute times. ``--quick`` runs fewer
repetitions and a smaller frame (a smoke test of the script itself).
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

QUICK = "--quick" in sys.argv
TMP = Path(tempfile.mkdtemp(prefix="govflow-bench-recording-"))
# Before Prefect is imported: offline, quiet, and its home in a scratch folder.
os.environ.update({"DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "ERROR",
                   "PREFECT_HOME": str(TMP / "prefect")})
os.environ.pop("PREFECT_API_URL", None)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from prefect import flow as prefect_flow  # noqa: E402
from prefect import task as prefect_task  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402

from govflow.flows import recording  # noqa: E402
from govflow.governance.ledger.engine import Ledger  # noqa: E402

TASKS = 100
REPEATS = 3 if QUICK else 9
FRAME_ROWS = 100_000 if QUICK else 1_000_000
FRAME_REPEATS = 3 if QUICK else 7


# -- the flows ---------------------------------------------------------------------------------

@prefect_task(cache_policy=NO_CACHE)
def plain_step(i: int) -> int:
    return i + 1


@recording.task
def recorded_step(i: int) -> int:
    return i + 1


# When each flow's body began: Prefect's ephemeral API sometimes stalls for seconds while creating a
# flow run (HTTP 503 and client back-off while its SQLite is busy recording the previous flow's task
# runs), with or without recording. The ratio is taken from the body's start to the flow's return:
# every task, the flow's end and artifacts; not Prefect's flow-run creation. Prefect's flow-run
# heartbeat is off while measuring: its thread sleeps in 1 s steps and a flow's end waits for it,
# which rounds every flow's time up to the next whole second (1.0 s or 2.0 s, nothing between).
BODY: dict[str, float] = {}


@prefect_flow
def plain_100() -> int:
    BODY["start"] = time.perf_counter()
    return sum(plain_step(i) for i in range(TASKS))


@recording.flow
def recorded_100() -> int:
    BODY["start"] = time.perf_counter()
    return sum(recorded_step(i) for i in range(TASKS))


@prefect_task(cache_policy=NO_CACHE)
def plain_rows(frame: pd.DataFrame) -> int:
    return len(frame)


@recording.task
def recorded_rows(frame: pd.DataFrame) -> int:
    return len(frame)


# The frame reaches the flows as a global: a 1M-row flow *parameter* costs Prefect seconds of its
# own (it serialises flow parameters), the same with or without recording, and only adds noise.
BIG: dict[str, pd.DataFrame] = {}


@prefect_flow
def plain_big() -> int:
    return plain_rows(BIG["frame"])


@prefect_flow
def recorded_big() -> int:
    return recorded_rows(BIG["frame"])


# -- measuring ---------------------------------------------------------------------------------

def timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """(wall, CPU of this process) seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def spread(samples: list[float]) -> str:
    ordered = sorted(samples)
    return (f"median {statistics.median(ordered):.3f} (min {ordered[0]:.3f}, max {ordered[-1]:.3f}, "
            f"n={len(ordered)})")


def big_frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    words = np.array([f"category-{k}" for k in range(50)], dtype=object)
    return pd.DataFrame({
        "amount": rng.normal(1000, 300, rows), "rate": rng.random(rows),
        "age": rng.integers(18, 90, rows), "months": rng.integers(1, 72, rows),
        "purpose": words[rng.integers(0, len(words), rows)], "good": rng.integers(0, 2, rows).astype(bool),
    })


def bench_hundred_tasks() -> bool:
    print(f"(a) a flow of {TASKS} trivial tasks: plain Prefect vs govflow recording (SQLite ledger), "
          f"{REPEATS} interleaved pairs", flush=True)
    plain_100()  # the first flow starts the ephemeral API
    recorded_100()
    runs: dict[str, list[float]] = {"plain": [], "recorded": []}  # body start -> flow returned
    walls: dict[str, list[float]] = {"plain": [], "recorded": []}  # the whole call
    cpus: dict[str, list[float]] = {"plain": [], "recorded": []}
    for i in range(REPEATS):
        order = [("plain", plain_100), ("recorded", recorded_100)]
        for name, fn in order if i % 2 == 0 else order[::-1]:
            wall, cpu = timed(fn)
            runs[name].append(time.perf_counter() - BODY["start"])
            walls[name].append(wall)
            cpus[name].append(cpu)
    for name in ("plain", "recorded"):
        print(f"  {name:<9} run s {spread(runs[name])}")
        print(f"  {'':<9} whole call s {spread(walls[name])};  CPU s {spread(cpus[name])}")
    ratios = [r / p for r, p in zip(runs["recorded"], runs["plain"], strict=True)]
    wall_ratios = [r / p for r, p in zip(walls["recorded"], walls["plain"], strict=True)]
    cpu_ratios = [r / p for r, p in zip(cpus["recorded"], cpus["plain"], strict=True)]
    per_task = (statistics.median(runs["recorded"]) - statistics.median(runs["plain"])) / TASKS * 1e3
    ratio = statistics.median(ratios)
    print(f"  ratio recorded/plain, run:        {spread(ratios)}  target <= 1.20: {'met' if ratio <= 1.2 else 'MISSED'}")
    print(f"  ratio recorded/plain, whole call: {spread(wall_ratios)}  (includes Prefect's flow-run creation)")
    print(f"  ratio recorded/plain, CPU:        {spread(cpu_ratios)}")
    print(f"  recording adds {per_task:.2f} ms per task (difference of median runs)", flush=True)
    return ratio <= 1.2


def bench_big_input() -> bool:
    frame = BIG["frame"] = big_frame(FRAME_ROWS)
    print(f"(b) a task taking a {len(frame):,} x {frame.shape[1]} frame "
          f"({', '.join(sorted(set(map(str, frame.dtypes))))}): plain vs recorded, {FRAME_REPEATS} pairs", flush=True)
    plain_big()
    recorded_big()
    plain: list[float] = []
    recorded: list[float] = []
    for i in range(FRAME_REPEATS):
        order = [(plain, plain_big), (recorded, recorded_big)]
        for samples, fn in order if i % 2 == 0 else order[::-1]:
            samples.append(timed(fn)[0])
    added = [r - p for r, p in zip(recorded, plain, strict=True)]
    median = statistics.median(added)
    print(f"  plain     wall s {spread(plain)}")
    print(f"  recorded  wall s {spread(recorded)}")
    print(f"  recording adds s {spread(added)}  target <= 0.3 s: {'met' if median <= 0.3 else 'MISSED'}", flush=True)
    return median <= 0.3


def bench_openlineage() -> None:
    from govflow.flows.lineage import configure_openlineage, uninstall

    print(f"(c) the same recorded flow with OpenLineage events to a file (START+COMPLETE per task, built "
          f"from the ledger), {REPEATS} interleaved pairs", flush=True)
    off: list[float] = []
    on: list[float] = []
    for i in range(REPEATS):
        for samples, emit in ([(off, False), (on, True)] if i % 2 == 0 else [(on, True), (off, False)]):
            if emit:
                configure_openlineage({"transport": "file", "path": str(TMP / "events.jsonl"), "append": False})
            timed(recorded_100)
            samples.append(time.perf_counter() - BODY["start"])
            uninstall()
    added = [(a - b) / TASKS * 1e3 for a, b in zip(on, off, strict=True)]
    print(f"  without   run s {spread(off)}")
    print(f"  with      run s {spread(on)}")
    print(f"  OpenLineage adds ms per task {spread(added)}", flush=True)


def main() -> int:
    print(f"python {sys.version.split()[0]}, pandas {pd.__version__}, {os.cpu_count()} CPUs"
          f"{', QUICK sizes' if QUICK else ''}")
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    ledger = Ledger.open(home=TMP / "home")
    recording.set_ledger(ledger)
    try:
        with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            met = [bench_hundred_tasks(), bench_big_input()]
            bench_openlineage()
    finally:
        recording.set_ledger(None)
        ledger.close()
        shutil.rmtree(TMP, ignore_errors=True)
    if not all(met):
        print("a target was missed (figures above)")
    return 0  # figures, not a timed test: a miss is reported, not an error


if __name__ == "__main__":
    sys.exit(main())
