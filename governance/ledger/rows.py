"""Ledger rows: their columns, their canonical hash, and the fast way they are inserted.

Every history table's columns with the kind of value each holds (`COLUMN_KINDS`), a value in the
exact form it reads back from either backend (`normalise`), the canonical sha256 of a row
(`row_hash`, see `govflow.canonical`), and the insert that bypasses SQLAlchemy's per-statement work
on the recording hot path (`insert_rows`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from datetime import datetime
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from operator import itemgetter
from typing import Any

from sqlalchemy import Table

from govflow import canonical as canon
from govflow.governance.ledger.schema import HISTORY_TABLES, AuditEntry, UTCDateTime


def _column_kinds(table: Table) -> list[tuple[str, str]]:
    kinds = []
    for column in table.columns:
        python_type = column.type.python_type if not isinstance(column.type, UTCDateTime) else datetime
        kind = {datetime: "dt", float: "float", int: "int"}.get(python_type, "str")
        kinds.append((column.name, kind))
    return kinds


COLUMN_KINDS: dict[str, list[tuple[str, str]]] = {t.name: _column_kinds(t) for t in HISTORY_TABLES}
TABLES: dict[str, Table] = {t.name: t for t in HISTORY_TABLES}
AUDIT_TABLE: Table = AuditEntry.__table__  # type: ignore[assignment]
# Scalar column defaults declared on the models (e.g. ``runs.attempt = 1``): `Writer.add` fills every
# column itself, so it must apply them too, or an omitted column would be written as NULL.
DEFAULTS: dict[str, dict[str, Any]] = {
    t.name: {c.name: c.default.arg for c in t.columns if c.default is not None and c.default.is_scalar}  # type: ignore[attr-defined]
    for t in HISTORY_TABLES
}


def normalise(value: Any, kind: str) -> Any:
    """A column value in the exact form it reads back from either backend."""
    if value is None:
        return None
    if kind == "float":
        return float(value)
    if kind == "int":
        return int(value)
    if kind == "str":
        return str(value)
    return value


def row_hash(table: str, row: Mapping[Any, Any]) -> str:
    """sha256 of a ledger row's canonical form (see `govflow.canonical`).

    Equal to ``canon.hash_value({"table": table, "row": {column: value, ...}})`` with timestamps as
    `canon.format_ts` text (a test holds it to that); spelt out by hand because verify runs it for
    every row of the ledger, and ``json.dumps`` costs several times more.
    """
    body = ",".join([key + _json_value(row.get(name), is_dt) for name, key, is_dt in _CANONICAL_COLUMNS[table]])
    text = '{"row":{' + body + '},"table":' + encode_basestring(table) + "}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# Per table, its columns in canonical (sorted) order, each with the JSON text of its key.
_CANONICAL_COLUMNS: dict[str, list[tuple[str, str, bool]]] = {
    table: [(name, encode_basestring(name) + ":", kind == "dt") for name, kind in sorted(kinds)]
    for table, kinds in COLUMN_KINDS.items()
}


def _json_value(value: Any, is_dt: bool) -> str:
    """One value as `canon.canonical` writes it (the common types by hand, anything else through it)."""
    if value is None:
        return "null"
    if is_dt:
        return '"' + canon.format_ts(value) + '"'
    kind = type(value)
    if kind is str:
        return encode_basestring(value)  # type: ignore[no-any-return]
    if kind is int:
        return int.__repr__(value)
    if kind is float and math.isfinite(value):
        return float.__repr__(value)
    return canon.canonical(value).decode("utf-8")  # also refuses NaN and infinities, as specified


_INSERTS: dict[tuple[str, str], tuple[str, Any, list[tuple[int, Any]]]] = {}
HEAD_SQL = "SELECT seq, entry_hash, recorded_at FROM audit_log ORDER BY seq DESC LIMIT 1"
COPY_FROM_ROWS = 50  # PostgreSQL: a table's rows go by COPY from this many in one transaction


def _insert_sql(dialect: Any, table: Table) -> tuple[str, Any, list[tuple[int, Any]]]:
    """The INSERT statement, a getter of a row's values in column order, and the bind processors
    (by position) of the columns that have one (on both backends, only the timestamps)."""
    key = (dialect.name, table.name)
    if key not in _INSERTS:
        columns = list(table.columns)
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        sql = (f"INSERT INTO {table.name} ({', '.join(c.name for c in columns)}) "
               f"VALUES ({', '.join([mark] * len(columns))})")
        # dialect_impl: the dialect's own type (SQLite DATETIME text), as SQLAlchemy itself would bind it.
        binds = [(i, c.type.dialect_impl(dialect).bind_processor(dialect)) for i, c in enumerate(columns)]
        _INSERTS[key] = (sql, itemgetter(*[c.name for c in columns]), [(i, b) for i, b in binds if b is not None])
    return _INSERTS[key]


def insert_rows(cursor: Any, dialect: Any, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows straight through the DBAPI cursor (the recording hot path).

    Each value goes through its column type's own bind processor, exactly as SQLAlchemy would send
    it, so rows read back (and hash) the same; SQLAlchemy's per-statement work (compilation, events,
    result set-up) is skipped: on a recorded task it cost more than the database itself. On
    PostgreSQL many rows go by COPY (one stream; executemany costs a message per row and, for a few
    rows, more in psycopg's pipeline polling than in the rows).
    """
    sql, getter, binds = _insert_sql(dialect, table)
    if binds:
        params: list[Any] = []
        for row in rows:
            values = list(getter(row))
            for i, bind in binds:
                values[i] = bind(values[i])
            params.append(values)
    else:
        params = [getter(row) for row in rows]
    if len(params) == 1:
        cursor.execute(sql, params[0])
    elif dialect.name == "postgresql" and len(params) >= COPY_FROM_ROWS:
        with cursor.copy(f"COPY {table.name} ({', '.join(c.name for c in table.columns)}) FROM STDIN") as copy:
            for values in params:
                copy.write_row(values)
    else:
        cursor.executemany(sql, params)
