"""A search's walk newest first, bounded like a log store's partial results (see `search`).

A filter no index answers (a range nobody is in: every row of a 5-million-row log read, 236 s) is
answered by walking the log newest first. `walk` reads it in chunks (first a few times the page,
then twice as many each time) of the rows the indexed columns select (system, version, request,
time range, cursor) and keeps those the other filters match; when the page is full or the log ends
the answer is complete, and when the budget (seconds, or rows examined) is spent first it stops with
what it found and the oldest row it examined: the next page continues strictly before it, so
nothing is skipped (every row up to it was examined) or repeated (the keyset order).
"""

from __future__ import annotations

import base64
import json
import math
import time
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, text

from govflow import canonical as canon
from govflow.errors import InputError
from govflow.governance.ledger.schema import UTCDateTime
from govflow.governance.trail.search_sql import WhereClause

BAD_BUDGET = ("budget: '{value}' is not seconds or rows examined per page, e.g. 2s or 50000rows "
              "(a walk that spends it first answers in part, with a cursor to continue)")
FIRST_CHUNK = 1_000  # rows examined by the first chunk (at least 4 pages' worth)
MAX_CHUNK = 50_000  # a chunk's rows: about a second of payload JSON read on a loaded PostgreSQL


@dataclass(frozen=True)
class Budget:
    """How much one page may read before answering in part: seconds, and (or) rows examined."""

    seconds: float | None = 0.8
    rows: int | None = None


DEFAULT_BUDGET = Budget()  # a page within a second (the target), partial if it must walk further


def parse_budget(value: str | None) -> Budget:
    """``2s`` / ``0.5`` (seconds) or ``50000rows`` (rows examined) that one page may read; None: the default."""
    if value is None or value == "":
        return DEFAULT_BUDGET
    given = value.strip().lower().replace(" ", "")
    try:
        if given.endswith("rows"):
            rows = int(given[:-4])
            if rows >= 1:
                return Budget(seconds=None, rows=rows)
        else:
            seconds = float(given.removesuffix("s"))
            if math.isfinite(seconds) and seconds >= 0:
                return Budget(seconds=seconds)
    except ValueError:
        pass
    raise InputError(BAD_BUDGET.format(value=value))


@dataclass(frozen=True)
class Walked:
    """The rows found (at most the page and one), and where the walk stopped when it did not finish."""

    rows: list[dict[str, Any]]
    stopped_at: tuple[datetime, str] | None  # (served_at, id) of the oldest row examined


def encode_cursor(served_at: datetime, prediction_id: str) -> str:
    """The opaque cursor after ``(served_at, id)``: where the next page (or the rest of a walk) starts."""
    raw = json.dumps([canon.format_ts(served_at), prediction_id], separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def walk(conn: Connection, query: Any, budget: Budget | None, chunk_sql: Any) -> Walked:
    """Chunks newest first until the page (and one) is found, the log ends or ``budget`` is spent.
    ``chunk_sql(query, rows, want)`` gives one chunk's statement and parameters (`search`)."""
    started, examined = time.monotonic(), 0
    found: list[dict[str, Any]] = []
    size = max(FIRST_CHUNK, 4 * (query.limit + 1))
    while True:
        rows = size if budget is None or budget.rows is None else min(size, budget.rows - examined)
        statement, params = chunk_sql(query, rows, query.limit + 1 - len(found))
        result = [dict(r) for r in conn.execute(statement, params).mappings()]
        found += [r for r in result if r["kind"] == 1]
        edge = next((r for r in result if r["kind"] == 0), None)
        examined += int(edge["examined"]) if edge else 0
        if len(found) > query.limit or edge is None or int(edge["examined"]) < rows:
            return Walked(found, None)
        if _spent(budget, started, examined):
            return Walked(found, (edge["served_at"], edge["id"]))
        query = replace(query, cursor=encode_cursor(edge["served_at"], edge["id"]))
        size = _next_size(size, budget, time.monotonic() - started, examined)


def _next_size(size: int, budget: Budget | None, elapsed: float, examined: int) -> int:
    """Twice the last chunk, at most what the time left can read at the rate seen so far: a page answers
    near its budget rather than a whole chunk past it."""
    size = min(2 * size, MAX_CHUNK)
    if budget is None or budget.seconds is None or elapsed <= 0:
        return size
    fits = int(examined / elapsed * (budget.seconds - elapsed))
    return max(FIRST_CHUNK, min(size, fits))


def _spent(budget: Budget | None, started: float, examined: int) -> bool:
    if budget is None:
        return False
    over_time = budget.seconds is not None and time.monotonic() - started >= budget.seconds
    return over_time or (budget.rows is not None and examined >= budget.rows)


def chunk_statement(sql: WhereClause, inner: list[str], outer: list[str], *, columns: list[str], join: str,
                    lead: str, rows: int, want: int) -> Any:
    """One chunk: the newest ``rows`` rows ``inner`` selects (materialised: read once), the first ``want``
    of them ``outer`` keeps (kind 1), and the oldest of them with how many there were (kind 0)."""
    selected = ", ".join("p." + c for c in columns)
    materialised = "MATERIALIZED " if sql.pg else ""
    sql_text = (
        f"WITH chunk AS {materialised}(SELECT {selected} FROM predictions p WHERE {' AND '.join(inner)} "
        f"ORDER BY {lead}p.served_at DESC, p.id DESC LIMIT {int(rows)}) "
        f"SELECT * FROM (SELECT {selected}, 1 AS kind, 0 AS examined FROM chunk p{join} "
        f"WHERE {' AND '.join(outer)} ORDER BY p.served_at DESC, p.id DESC LIMIT {int(want)}) AS m "
        f"UNION ALL SELECT * FROM (SELECT {selected}, 0 AS kind, (SELECT count(*) FROM chunk) AS examined "
        f"FROM chunk p ORDER BY p.served_at, p.id LIMIT 1) AS e")
    binds = [bindparam(n, type_=UTCDateTime()) for n, v in sql.params.items() if isinstance(v, datetime)]
    return text(sql_text).bindparams(*binds).columns(served_at=UTCDateTime())
