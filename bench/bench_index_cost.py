"""What each index of the prediction log costs a row logged, on PostgreSQL (#19 item 1).

A fresh ledger gives the ``predictions`` and ``prediction_payloads`` tables and their indexes as the
migrations make them. N rows shaped like the log's (75 % credit decisions with a score, 25 %
recommender lists of ten items; ids, request ids and times in order, payload hashes random; a payload
per prediction: the applicant's inputs and sensitive attributes, or the recommender's user) are
generated in the database, then inserted in batches of 5,000 into a bare copy of each table: with its
primary key alone, with the key and one index at a time, and with all of them. The figure is the server's CPU time per row
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
ROWS = {"predictions": """INSERT INTO src SELECT lpad(to_hex(g), 36, '0'), lpad(to_hex(g), 32, 'r'), 'credit-scoring', 'mv-1',
  CASE WHEN g % 4 = 0 THEN '{"cold_start":false,"items":["' || (g % 1700) || '","7","8","9","10","11","12","13","14",'
                           || '"15"],"scores":[1.0,1.0,1.0,1.0,1.0,1.0,1.0,1.0,1.0,1.0]}'
       ELSE '{"decision":"good","favourable":' || (g % 2 = 0) || ',"score":0.' || (g % 997) || ',"score_of":"good"}' END,
  1.0, now() + g * interval '1 ms', 'bench', md5('p' || g) || md5('q' || g), g / %(batch)s + 1, g / %(batch)s + 1
FROM generate_series(1, %(n)s) g""",
        # a payload per prediction: a credit applicant's inputs and sensitive attributes, or a recommender's user
        "prediction_payloads": """INSERT INTO src SELECT md5('p' || g) || md5('q' || g), left(md5('s' || g), 32),
  CASE WHEN g % 4 = 0 THEN '{"user_id":"' || (g % 900) || '"}'
       ELSE '{"credit_amount":' || (250 + g % 19751) || ',"duration_in_month":' || (4 + g % 69) || ',"purpose":"A4'
            || (g % 10) || '"}' END,
  CASE WHEN g % 4 = 0 THEN '{"gender":"F"}'
       ELSE '{"age_in_years":' || (19 + g % 57) || ',"personal_status_and_sex":"A9' || (1 + g % 5) || '"}' END,
  CASE WHEN g % 4 = 0 THEN NULL ELSE 'subject-' || (g / 20) END, now(), NULL, g / %(batch)s + 1
FROM generate_series(1, %(n)s) g"""}
KEYS = {"predictions": "CREATE UNIQUE INDEX predictions_pkey ON public.predictions USING btree (id)",
        "prediction_payloads": "CREATE UNIQUE INDEX prediction_payloads_pkey ON public.prediction_payloads "
                               "USING btree (payload_hash)"}


def server_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        return time.perf_counter()
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(conn: object, pid: int, table: str, indexes: list[str]) -> float:
    """Server seconds to insert the rows into a bare copy of the table with these indexes."""
    conn.execute("DROP TABLE IF EXISTS t")  # type: ignore[attr-defined]
    conn.execute(f"CREATE TABLE t (LIKE {table} INCLUDING DEFAULTS)")  # type: ignore[attr-defined]
    for definition in indexes:
        conn.execute(definition.replace(f" ON public.{table} ", " ON public.t ").replace("INDEX ", "INDEX t_", 1))  # type: ignore[attr-defined]
    conn.execute("CHECKPOINT")  # type: ignore[attr-defined]
    started = server_seconds(pid)
    columns = ", ".join(row[0] for row in conn.execute(  # type: ignore[attr-defined]
        "SELECT attname FROM pg_attribute WHERE attrelid = 't'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum"))
    for seq in range(1, N // BATCH + 1):
        conn.execute(f"INSERT INTO t SELECT {columns} FROM src WHERE bench_batch = %s", (seq,))  # type: ignore[attr-defined]
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
            print(f"server CPU per row inserted in batches of {BATCH:,}, {N:,} rows, median of {RUNS} "
                  f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
            for table in ROWS:
                measure(conn, pid, table)


def measure(conn: object, pid: int, table: str) -> None:
    """Each index of ``table`` alone over its primary key, then all, against the key alone."""
    found = conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s "  # type: ignore[attr-defined]
                         "ORDER BY indexname", (table,)).fetchall()
    conn.execute("DROP TABLE IF EXISTS src")  # type: ignore[attr-defined]
    conn.execute(f"CREATE UNLOGGED TABLE src AS SELECT *, 0 AS bench_batch FROM {table} WITH NO DATA")  # type: ignore[attr-defined]
    conn.execute(ROWS[table].replace("%(batch)s", str(BATCH)).replace("%(n)s", str(N)))  # type: ignore[attr-defined]
    key = KEYS[table]
    pkey = key.split()[3]
    others = [(name, definition) for name, definition in found if name != pkey]
    sets = {"the primary key alone": [key]} | {f"+ {name}": [key, d] for name, d in others} | {
        f"all {len(others) + 1} indexes": [key] + [d for _, d in others]}
    taken: dict[str, list[float]] = {label: [] for label in sets}
    for _ in range(RUNS):
        for label, indexes in sets.items():
            taken[label].append(run(conn, pid, table, indexes) * 1e6 / N)
    base = statistics.median(taken["the primary key alone"])
    print(f"{table}:")
    for label, values in taken.items():
        median = statistics.median(values)
        extra = f"  (+{median - base:5.1f} us for this index)" if label.startswith("+") else ""
        print(f"  {label:<48} {median:6.1f} us/row{extra}", flush=True)
    total = statistics.median(taken[f"all {len(others) + 1} indexes"])
    print(f"  all indexes: {1e6 / total:,.0f} rows per server CPU-second for this table alone")


if __name__ == "__main__":
    main()
