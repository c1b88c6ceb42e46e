"""The trail at scale (#19): how ingest, tracing, the dashboard and verify cost as the prediction log grows.

One ledger per backend, with credit-scoring:1 trained, gated, approved and promoted by the real flows,
filled through the batch path (`write_predictions`, 5,000 records a transaction, building the records
included) up to each size in turn. At each size it prints:

* ingest: rows/s while filling from the previous size to this one (target >= 20,000 on PostgreSQL);
* trace: the median of `trace prediction` over random logged ids;
* dashboard: the system page's data (`load_dashboard`, 30 days: the hourly sums of `rollup`) and
  `/audit/predictions` filtered by version and time (`list_predictions`), the slower of 3 runs each
  (target <= 1 s); at the end, the page over a month of hourly sums (`month_of_sums`);
* verify: a full verify (predictions/s) and a `--since` verify of the last fill's head.

Each figure with a target is printed against it as a ratio with ok/MISSED, beside the load average:
on a shared machine the ratio across sizes says more than the absolute figure.

    python bench/bench_growth.py [--sizes 20000,100000] [--backend sqlite|postgresql] [--skip-full-verify] [--writers N]

Sizes are cumulative prediction counts (``1M``, ``500k`` accepted). PostgreSQL runs in a database of its
own, created and dropped here. `make bench` runs it at the default sizes (a few minutes).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench_serving import make_batch, pg_database, real_version, scored, time_traces

from govflow import canonical as canon
from govflow.governance.ledger.engine import Ledger

DEFAULT_SIZES = "10000,40000"
QUICK_SIZES = "5000,10000"
BATCH = 5000
INGEST_TARGET = 20_000  # rows/s, issue #19
QUERY_TARGET = 1.0  # seconds: the system page, /audit/predictions by version and time


def parse_size(text: str) -> int:
    text = text.strip().lower().replace("_", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    number = text[:-1] if scale > 1 else text
    if not number.replace(".", "", 1).isdigit() or float(number) * scale < BATCH:
        raise SystemExit(f"--sizes: each size a number of predictions >= {BATCH:,} (e.g. 1M, 500k, 20000); got {text!r}")
    return int(float(number) * scale)


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=None, help=f"cumulative sizes, comma-separated (default {DEFAULT_SIZES})")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default=None, help="only this backend")
    parser.add_argument("--skip-full-verify", action="store_true", help="time only the --since verify")
    parser.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES}")
    parser.add_argument("--writers", type=int, default=1,
                        help="processes writing batches at once, each through its own connection (default 1)")
    args, _ = parser.parse_known_args(argv)  # `make bench` hands every script the same arguments
    text = args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)
    args.size_list = sorted({parse_size(s) for s in text.split(",") if s.strip()})
    if args.writers < 1:
        raise SystemExit(f"--writers: the number of processes writing at once, at least 1; got {args.writers}")
    return args


def fill(ledger: Ledger, served: Any, valid: list[Any], outputs: list[Any], have: int, upto: int,
         sample: list[str], writers: int = 1, where: tuple[str | None, Path] | None = None) -> tuple[float, float]:
    """Predictions through the batch path from ``have`` up to ``upto``: (rows/s wall, rows per CPU-second of
    the writing processes, which a loaded machine disturbs less). With ``writers`` > 1, that many processes
    each open the ledger (``where``: its URL and home) and write their share of the batches (each batch one
    transaction and one audit entry; the ledger's write lock orders them in the chain)."""
    if writers > 1 and where is not None:
        return fill_parallel(where, served, valid, outputs, upto - have, sample, writers)
    started, cpu_started = time.perf_counter(), time.process_time()
    added = write_batches(ledger, served, valid, outputs, upto - have, sample, progress=have)
    return added / max(time.perf_counter() - started, 1e-9), added / max(time.process_time() - cpu_started, 1e-9)


def write_batches(ledger: Ledger, served: Any, valid: list[Any], outputs: list[Any], rows: int, sample: list[str],
                  progress: int | None = None) -> int:
    """``rows`` predictions in batches of `BATCH` (records built included); ``progress``: print each million."""
    from govflow.governance.trail import predictions as preds

    added = 0
    while added < rows:
        batch = make_batch(served, valid, outputs, min(BATCH, rows - added), caller="growth")
        receipt = preds.write_predictions(ledger, batch)
        assert receipt.written == len(batch), receipt.refused
        sample += [r.id for r in batch[::500]]
        added += len(batch)
        if progress is not None and (progress + added) % 1_000_000 < BATCH:
            print(f"    ... {progress + added:,} predictions", flush=True)
    return added


def _writer_process(where: tuple[str | None, Path], served: Any, valid: list[Any], outputs: list[Any], rows: int,
                    ready: Any, results: Any) -> None:
    ledger = Ledger.open(*where)  # its own connection: a real separate writer
    sample: list[str] = []
    ready.wait()
    cpu_started = time.process_time()
    write_batches(ledger, served, valid, outputs, rows, sample)
    results.put((time.process_time() - cpu_started, sample))
    ledger.close()


def _result(results: Any, processes: list[Any]) -> Any:
    """The next writer's result; a writer that died instead fails the fill rather than hanging it."""
    import queue

    while True:
        try:
            return results.get(timeout=5)
        except queue.Empty:
            dead = [p.exitcode for p in processes if p.exitcode not in (None, 0)]
            if dead:
                raise SystemExit(f"a writer process failed (exit codes {dead}); its error is printed above") from None


def fill_parallel(where: tuple[str | None, Path], served: Any, valid: list[Any], outputs: list[Any], rows: int,
                  sample: list[str], writers: int) -> tuple[float, float]:
    """``rows`` predictions by ``writers`` processes (spawned: no connection inherited), timed from the
    moment all have opened the ledger."""
    import multiprocessing
    from types import SimpleNamespace

    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    batches = -(-rows // BATCH)
    shares = [(batches // writers + (i < batches % writers)) * BATCH for i in range(writers)]
    shares[-1] -= sum(shares) - rows
    plain = SimpleNamespace(version=SimpleNamespace(system=served.version.system, id=served.version.id),
                            redaction=served.redaction)  # what make_batch reads, picklable
    shares = [share for share in shares if share > 0]
    ready = context.Barrier(len(shares) + 1)
    processes = [context.Process(target=_writer_process, args=(where, plain, valid, outputs, share, ready, results))
                 for share in shares]
    for process in processes:
        process.start()
    try:
        ready.wait(timeout=300)  # broken (raises) when a writer dies before it is ready
        started = time.perf_counter()
        done = [_result(results, processes) for _ in processes]
        took = time.perf_counter() - started
    finally:
        for process in processes:
            process.join(timeout=60)
    assert all(p.exitcode == 0 for p in processes), f"writer exit codes {[p.exitcode for p in processes]}"
    for _, ids in done:
        sample += ids
    return rows / max(took, 1e-9), rows / max(sum(cpu for cpu, _ in done), 1e-9)


def settle(ledger: Ledger) -> None:
    """PostgreSQL: what autovacuum does after a fill (statistics, the visibility map for index-only
    scans), done here because the benchmark server may run with autovacuum off."""
    if ledger.is_sqlite:
        return
    with ledger.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM (ANALYZE) predictions, prediction_payloads, audit_log")


def slowest(runs: int, action: Any) -> float:
    took = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        took.append(time.perf_counter() - started)
    return max(took)


def dashboard_times(ledger: Ledger, version_id: str, since: str) -> tuple[float, float, float]:
    """(system page data, its counting queries, /audit/predictions by version and time), seconds, the
    slower of 3 runs each."""
    from govflow.governance.trail import dashboard_data as dd
    from govflow.web.audit import list_predictions

    def page() -> None:  # what the system page route reads: the systems, then the dashboard's data
        with ledger.read() as conn:
            assert "credit-scoring" in dd.systems(conn)
            dd.load_dashboard(conn, "credit-scoring", period=timedelta(days=30))

    def counts() -> None:  # what reads the log itself: the systems, serving outside approval (index counts)
        end = canon.utc_now()
        with ledger.read() as conn:
            dd.systems(conn)
            versions = dd._versions(conn, "credit-scoring")
            dd._unapproved_flags(conn, "credit-scoring", versions, end - timedelta(days=30), end)

    def audit() -> None:
        found = list_predictions(ledger, {"system": "credit-scoring", "version": "1", "since": since, "limit": "100"})
        assert found["predictions"] and all(p["model_version_id"] == version_id for p in found["predictions"])

    return slowest(3, page), slowest(3, counts), slowest(3, audit)


def verify_times(ledger: Ledger, since_head: str | None, full: bool) -> tuple[float | None, float, int]:
    """(full verify seconds or None, --since seconds, entries the --since verify read)."""
    from govflow.governance.ledger.verify import verify

    full_s = None
    if full:
        started = time.perf_counter()
        report = verify(ledger)
        full_s = time.perf_counter() - started
        assert report.intact, report.first()
    started = time.perf_counter()
    report = verify(ledger, since=since_head) if since_head else verify(ledger)
    assert report.intact, report.first()
    return full_s, time.perf_counter() - started, report.entries


def promote(name: str, ledger: Ledger) -> bool:
    """credit-scoring:1 through the real flows; when they cannot run, registered and promoted directly
    (the trace then has no training run to follow). Returns whether the real flows ran."""
    started = time.perf_counter()
    try:
        real_version(ledger)
    except Exception as e:  # noqa: BLE001 - the figures still mean something; say why
        from tests.web.serving.helpers import put_in_production

        print(f"  {name}: the real flows failed ({type(e).__name__}: {str(e).splitlines()[0][:120]}); "
              "credit-scoring:1 registered and promoted directly instead", flush=True)
        put_in_production(ledger)
        return False
    print(f"  {name}: credit-scoring:1 trained, gated, approved and promoted in {time.perf_counter() - started:.0f} s",
          flush=True)
    return True


def quick_traces(ledger: Ledger, ids: list[str]) -> list[float]:
    from govflow.governance.trail.predictions import trace_prediction

    samples = []
    for i in ids:
        started = time.perf_counter()
        with ledger.read() as conn:
            assert trace_prediction(conn, i)["prediction"]
        samples.append(time.perf_counter() - started)
    return samples


def grow(name: str, db: str | None, home: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    ledger = Ledger.open(db, home)
    full_trace = promote(name, ledger)
    served, valid, outputs = scored(ledger)
    have, rows = 0, []
    sample: list[str] = []
    for size in args.size_list:
        head_before = ledger.head()[1]
        fill_started = canon.format_ts(canon.utc_now())
        rate, cpu_rate = fill(ledger, served, valid, outputs, have, size, sample, args.writers, (db, home))
        have = size
        settle(ledger)
        picked = random.Random(size).sample(sample, min(200, len(sample)))
        trace = statistics.median(time_traces(ledger, picked) if full_trace else quick_traces(ledger, picked))
        page, counted, audit = dashboard_times(ledger, served.version.id, fill_started)
        full_s, since_s, since_entries = verify_times(ledger, head_before, not args.skip_full_verify)
        row = {"size": size, "ingest": rate, "ingest_cpu": cpu_rate, "trace": trace, "page": page, "counts": counted, "audit": audit, "full": full_s,
               "since": since_s, "since_entries": since_entries}
        rows.append(row)
        print_row(name, row)
    month_of_sums(name, ledger, served.version.id)
    ledger.close()
    return rows


def month_of_sums(name: str, ledger: Ledger, version_id: str) -> None:
    """The system page over a month of a system serving around the clock: what it reads is the
    period's hourly sums (`govflow.governance.trail.rollup`), whose size depends on the hours, the
    versions, the decisions and the groups, not on how many predictions they count. The fill above
    serves everything within the hour it runs in, so here a month of cells (720 hours, the version,
    three decisions, each group of the German credit config) is added to the fill's, as the batches
    would have written them, and the page timed over it (after the verifies: the cells count nothing real)."""
    from govflow.governance.trail import dashboard_data as dd
    from govflow.governance.trail import rollup

    sums = rollup.Sums()
    now = canon.utc_now()
    with ledger.read() as conn:
        reading = rollup.readings(conn, [version_id])[version_id]
    groups = [f'{{"age_in_years":{age},"personal_status_and_sex":"A9{status}"}}'
              for age in (22, 30, 45, 70) for status in (1, 2, 3, 4)]
    outputs = ['{"decision":"good","favourable":true,"score":0.7,"score_of":"good"}',
               '{"decision":"bad","favourable":false,"score":0.3,"score_of":"good"}', '{"prediction":"?"}']
    for hour in range(2, 24 * 30):
        at = rollup.hour_of(now) - timedelta(hours=hour)
        for output in outputs:
            for group in groups:
                sums.add("credit-scoring", at, version_id, output, group, reading)
    with ledger.engine.begin() as conn:
        rollup.upsert(conn, sums)

    def page() -> None:
        with ledger.read() as conn:
            dd.load_dashboard(conn, "credit-scoring", period=timedelta(days=30))

    took = slowest(3, page)
    print(f"  {name:<10} system page over 30 days of hourly sums ({len(sums.nonzero()):,} cells more): "
          f"{took:5.2f} s ({meets(took, QUERY_TARGET, False)})", flush=True)


def meets(value: float, target: float, higher_is_better: bool) -> str:
    """``value`` against its target: the ratio (1.00 = the target; above 1 meets a floor, below 1 a
    ceiling) and ok/MISSED, so a loaded machine's figure is read as a ratio, not as a verdict alone."""
    ratio = value / target
    good = ratio >= 1 if higher_is_better else ratio <= 1
    return f"{ratio:.2f} x target {'ok' if good else 'MISSED'}"


def print_row(name: str, row: dict[str, Any]) -> None:
    full = (f"full verify {row['full']:6.1f} s ({row['size'] / row['full']:,.0f} predictions/s)"
            if row["full"] is not None else "full verify skipped")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"  {name:<10} {row['size']:>11,} predictions (load average {load:.1f} on {os.cpu_count()} cores)\n"
          f"    ingest {row['ingest']:8,.0f} rows/s, target >= {INGEST_TARGET:,}: "
          f"{meets(row['ingest'], INGEST_TARGET, True)} ({row['ingest_cpu']:,.0f} rows per CPU-second of this "
          f"process: {meets(row['ingest_cpu'], INGEST_TARGET, True)})\n"
          f"    trace median {row['trace'] * 1e3:5.2f} ms | system page {row['page']:5.2f} s "
          f"({meets(row['page'], QUERY_TARGET, False)}; its index counts {row['counts'] * 1e3:6.1f} ms) | audit by "
          f"version+time {row['audit'] * 1e3:6.1f} ms ({meets(row['audit'], QUERY_TARGET, False)})\n"
          f"    {full} | --since last fill {row['since']:5.2f} s ({row['since_entries']} entries)", flush=True)


def main() -> None:
    args = arguments(sys.argv[1:])
    backends = (args.backend,) if args.backend else ("sqlite", "postgresql")
    print(f"the trail at scale: sizes {', '.join(f'{s:,}' for s in args.size_list)} predictions, "
          f"batches of {BATCH:,}", flush=True)
    with tempfile.TemporaryDirectory(prefix="govflow-bench-growth-") as tmp:
        if "sqlite" in backends:
            grow("SQLite", None, Path(tmp) / "sqlite", args)
        if "postgresql" in backends:
            with pg_database() as url:
                if url:
                    grow("PostgreSQL", url, Path(tmp) / "pg", args)


if __name__ == "__main__":
    main()
