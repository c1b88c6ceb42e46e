"""What each index of the prediction log costs a row logged, on PostgreSQL (#19 item 1).

A fresh ledger gives the ``predictions`` table and its indexes as the migrations make them. N rows
shaped like the log's (75 % credit decisions with a score, 25 % recommender lists of ten items;
ids, request ids and times in order, payload hashes random) are generated in the database, then
inserted in batches of 5,000 into a bare copy of the table: with its primary key alone, with the
key and one index at a time, and with all of them. The figure is the server's CPU time per row
(the backend's own utime + stime from ``/proc``, so another job on a shared machine disturbs it far
less than wall time; wall time when the server is not on this machine), the median of 3 runs; an
index's cost is its run minus the key-alone run.

    python bench/bench_index_cost.py [--n 50000] [--quick]
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from serving_common import pg_database  # noqa: E402

N = 20_000 if "--quick" in sys.argv else int(sys.argv[sys.argv.index("--n") + 1]) if "--n" in sys.argv[:-1] else 50_000
BATCH = 5000
RUNS = 3
ROWS = """INSERT INTO src SELECT lpad(to_hex(g), 36, '0'), lpad(to_hex(g), 32, 'r'), 'credit-scoring', 'mv-1',
  CASE WHEN g % 4 = 0 THEN '{"cold_start":false,"items":["' || (g % 1700) || '","7","8","9","10","11","12","13","14",'
                           || '"15"],"scores":[1.0,1.0,1.0,1.0,1.0,1.0,1.0,1.0,1.0,1.0]}'
       ELSE '{"decision":"good","favourable":' || (g % 2 = 0) || ',"score":0.' || (g % 997) || ',"score_of":"good"}' END,
  1.0, now() + g * interval '1 ms', 'bench', md5('p' || g) || md5('q' || g), g / %(batch)s + 1
FROM generate_series(1, %(n)s) g"""


def server_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        return time.perf_counter()
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(conn: object, pid: int, indexes: list[str]) -> float:
    """Server seconds to insert the rows into a bare copy of the table with these indexes."""
    conn.execute("DROP TABLE IF EXISTS t")  # type: ignore[attr-defined]
    conn.execute("CREATE TABLE t (LIKE predictions INCLUDING DEFAULTS)")  # type: ignore[attr-defined]
    for definition in indexes:
        conn.execute(definition.replace(" ON public.predictions ", " ON public.t ").replace("INDEX ", "INDEX t_", 1))  # type: ignore[attr-defined]
    conn.execute("CHECKPOINT")  # type: ignore[attr-defined]
    started = server_seconds(pid)
    for seq in range(1, N // BATCH + 1):
        conn.execute("INSERT INTO t SELECT * FROM src WHERE audit_seq = %s", (seq,))  # type: ignore[attr-defined]
    return server_seconds(pid) - started


def main() -> None:
    import tempfile

    import psycopg

    from govflow.governance.ledger.engine import Ledger

    with pg_database() as url:
        if not url:
            return
        with tempfile.TemporaryDirectory() as home:
            Ledger.open(url, home=Path(home)).close()
        from sqlalchemy.engine import make_url

        plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(plain, autocommit=True) as conn:
            pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
            found = conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'predictions' "
                                 "ORDER BY indexname").fetchall()
            conn.execute("CREATE UNLOGGED TABLE src AS SELECT * FROM predictions WITH NO DATA")
            conn.execute(ROWS.replace("%(batch)s", str(BATCH)).replace("%(n)s", str(N)))
            key = "CREATE UNIQUE INDEX predictions_pkey ON public.predictions USING btree (id)"
            others = [(name, definition) for name, definition in found if name != "predictions_pkey"]
            sets = {"the primary key alone": [key]} | {f"+ {name}": [key, d] for name, d in others} | {
                f"all {len(others) + 1} indexes": [key] + [d for _, d in others]}
            taken: dict[str, list[float]] = {label: [] for label in sets}
            for _ in range(RUNS):
                for label, indexes in sets.items():
                    taken[label].append(run(conn, pid, indexes) * 1e6 / N)
            base = statistics.median(taken["the primary key alone"])
            print(f"predictions: {N:,} rows in batches of {BATCH:,}, server CPU per row, median of {RUNS} "
                  f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
            for label, values in taken.items():
                median = statistics.median(values)
                extra = f"  (+{median - base:5.1f} us for this index)" if label.startswith("+") else ""
                print(f"  {label:<48} {median:6.1f} us/row{extra}", flush=True)
            total = statistics.median(taken[f"all {len(others) + 1} indexes"])
            print(f"  all indexes: {1e6 / total:,.0f} rows per server CPU-second for this table alone "
                  f"(the payloads table and the client are on top)")


if __name__ == "__main__":
    main()
