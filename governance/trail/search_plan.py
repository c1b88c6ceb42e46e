"""How a search starts on PostgreSQL: from the index of a rare condition, or newest first (see `search`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, text

from govflow.governance.trail.search_sql import WhereClause

FEW = 20_000  # matches of an indexed condition that are read whole, then sorted
SAMPLE = 10_000  # rows of a large table sampled to judge a condition rare


def _narrow(sql: WhereClause) -> tuple[str, str]:
    """The table the indexed conditions are on (the payload's group or user, else the prediction's),
    and the conditions."""
    if sql.narrow_payload:
        return "prediction_payloads pp", " AND ".join(sql.narrow_payload)
    return "predictions p", " AND ".join(sql.narrow)


def rare(conn: Connection, sql: WhereClause) -> bool:
    """Whether the indexed conditions look rare: fewer than `FEW` matches in a sample of the table's
    pages (counting a common group through its GIN index reads its every entry: a second at 5 million
    payloads; the time order serves a common value anyway). A small table is not sampled."""
    table, conditions = _narrow(sql)
    rows = conn.execute(text("SELECT reltuples FROM pg_class WHERE oid = CAST(:t AS regclass)"),
                        {"t": table.split()[0]}).scalar() or 0
    if rows <= 10 * SAMPLE:
        return True
    share = conn.execute(text(f"SELECT avg(CASE WHEN {conditions} THEN 1.0 ELSE 0 END) FROM {table} "
                              f"TABLESAMPLE SYSTEM ({100 * SAMPLE / rows:.6f}) REPEATABLE (0)"), sql.params).scalar()
    return share is None or float(share) * rows < FEW


@contextmanager
def index_first(conn: Connection) -> Iterator[None]:
    """PostgreSQL: no sequential scan while a search runs. Its count and its page of rare matches are
    asked with no order, and the planner's guess for a condition on JSON (a fixed fraction of the rows
    when it has no statistics for the value) can make it read the whole log instead of the index (a
    score above every score: 5 million rows parsed); every search has an index to start from."""
    if conn.dialect.name != "postgresql":
        yield
        return
    before = conn.execute(text("SELECT current_setting('enable_seqscan')")).scalar()
    conn.execute(text("SELECT set_config('enable_seqscan', 'off', true)"))
    try:
        yield
    finally:
        conn.execute(text("SELECT set_config('enable_seqscan', :before, true)"), {"before": before})
