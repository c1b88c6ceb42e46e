"""`govflow verify`, the schema pass: is the live schema still the one the migrations create?

The append-only triggers and the NOT NULL, primary and unique keys are what keep history from
being rewritten in place, so someone with database rights who drops them (or a NOT NULL on
``audit_seq``, to slip in rows no chain entry covers) has tampered with the ledger even if no row
was changed through the gap. Dropped, altered, disabled or extra triggers and lost constraints
are findings.

The expected schema is not a hand-kept copy: the migrations themselves are rendered as SQL for the
dialect (Alembic's offline mode, no database touched), and the SQLite rendering is run into an
in-memory database, a fresh migrated ledger, whose structure is read back with the same code that
reads the live one. Column nullability and keys are the same on both backends; triggers are
compared per dialect (SQLite: their SQL text; PostgreSQL: timing, events, level, function and the
function's body, and that the trigger is enabled).
"""

from __future__ import annotations

import io
import re
import sqlite3
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlalchemy import Connection, text

VERSION_TABLE = "govflow_schema_version"


@dataclass(frozen=True)
class TableShape:
    not_null: dict[str, bool]  # column -> NOT NULL
    primary_key: tuple[str, ...]
    unique: frozenset[tuple[str, ...]]  # unique keys other than the primary key, columns sorted


@dataclass
class Schema:
    tables: dict[str, TableShape] = field(default_factory=dict)
    triggers: dict[str, tuple[str, Any]] = field(default_factory=dict)  # name -> (table, comparable definition)


def check_schema(conn: Connection) -> tuple[list[tuple[str, str]], set[str]]:
    """``([(record, problem), ...], missing tables)``: how the live schema differs from the migrations'."""
    dialect = conn.dialect.name
    want = expected_schema(dialect)
    have = _live_sqlite(conn) if dialect == "sqlite" else _live_postgres(conn)
    problems: list[tuple[str, str]] = []
    missing = set(want.tables) - set(have.tables)
    for name in sorted(missing):
        problems.append((f"table {name}", "is missing from the schema: dropped"))
    for name in sorted(set(want.tables) - missing):
        problems += [(f"table {name}", p) for p in _table_problems(want.tables[name], have.tables[name])]
    for name, (table, definition) in sorted(want.triggers.items()):
        found = have.triggers.get(name)
        if found is None:
            problems.append((f"table {table}", f"trigger {name} is missing: dropped (the table is no longer append-only)"))
        elif found[0] != table or found[1] != definition:
            problems.append((f"table {table}", f"trigger {name} differs from the one the migrations create: altered"))
    for name, (table, _) in sorted(have.triggers.items()):
        if name not in want.triggers and table in want.tables:
            problems.append((f"table {table}", f"trigger {name} is not one the migrations create: added"))
    return problems, missing


def _table_problems(want: TableShape, have: TableShape) -> list[str]:
    problems = []
    for column, not_null in want.not_null.items():
        if column not in have.not_null:
            problems.append(f"column {column} is missing: dropped")
        elif not_null and not have.not_null[column]:
            problems.append(f"column {column} is no longer NOT NULL: its constraint was dropped")
    if have.primary_key != want.primary_key:
        problems.append(f"primary key ({', '.join(want.primary_key)}) is {'missing' if not have.primary_key else 'altered'}")
    for key in sorted(want.unique - have.unique):
        problems.append(f"unique key ({', '.join(key)}) is missing: dropped")
    return problems


@cache
def expected_schema(dialect: str) -> Schema:
    """The schema the migrations create, for a dialect (computed once per process)."""
    memory = sqlite3.connect(":memory:")
    try:
        memory.executescript(migration_sql("sqlite"))
        schema = _shape_sqlite(memory.execute)
    finally:
        memory.close()
    schema.tables.pop(VERSION_TABLE, None)
    if dialect != "sqlite":
        schema.triggers = _postgres_triggers_from_sql(migration_sql(dialect))
    return schema


def migration_sql(dialect: str) -> str:
    """Every migration's upgrade, in order, rendered as SQL for a dialect without a database."""
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from govflow.governance.ledger.engine import MIGRATIONS

    buffer = io.StringIO()
    context = MigrationContext.configure(dialect_name=dialect, opts={"as_sql": True, "output_buffer": buffer})
    revisions = list(reversed(list(ScriptDirectory(str(MIGRATIONS)).walk_revisions())))
    with Operations.context(context):
        for revision in revisions:
            revision.module.upgrade()
    return buffer.getvalue()


# --- SQLite ----------------------------------------------------------------------------------------

def _live_sqlite(conn: Connection) -> Schema:
    def run(sql: str, params: tuple[Any, ...] = ()) -> Any:
        return conn.exec_driver_sql(sql, params)

    schema = _shape_sqlite(run)
    schema.tables.pop(VERSION_TABLE, None)
    return schema


def _shape_sqlite(run: Any) -> Schema:
    """Tables (columns, keys) and triggers, from ``sqlite_master`` and the table pragmas."""
    schema = Schema()
    objects = run("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE type IN ('table', 'trigger')").fetchall()
    for kind, name, table, sql in objects:
        if kind == "trigger":
            schema.triggers[name] = (table, _squeeze(sql))
            continue
        if name.startswith("sqlite_"):
            continue
        columns = run(f"PRAGMA table_info(\"{name}\")").fetchall()  # cid, name, type, notnull, default, pk
        primary = tuple(c[1] for c in sorted((c for c in columns if c[5]), key=lambda c: c[5]))
        unique = set()
        for index in run(f"PRAGMA index_list(\"{name}\")").fetchall():  # seq, name, unique, origin, partial
            if index[2] and index[3] != "pk":
                unique.add(tuple(sorted(r[2] for r in run(f"PRAGMA index_info(\"{index[1]}\")").fetchall())))
        not_null = {c[1]: bool(c[3]) or c[1] in primary and c[2].upper() == "INTEGER" for c in columns}
        schema.tables[name] = TableShape(not_null, primary, frozenset(unique))
    return schema


def _squeeze(sql: str) -> str:
    return " ".join(sql.split()).rstrip(";").strip()


# --- PostgreSQL ------------------------------------------------------------------------------------

_LIVE_COLUMNS = """
SELECT c.relname, a.attname, a.attnotnull FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped"""
_LIVE_KEYS = """
SELECT c.relname, i.indisprimary, array_agg(a.attname ORDER BY k.ord) FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
WHERE n.nspname = current_schema() AND i.indisunique AND i.indpred IS NULL
GROUP BY c.relname, i.indexrelid, i.indisprimary"""
_LIVE_TRIGGERS = """
SELECT t.tgname, c.relname, pg_get_triggerdef(t.oid), t.tgenabled, p.prosrc FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_proc p ON p.oid = t.tgfoid
WHERE n.nspname = current_schema() AND NOT t.tgisinternal"""
_TRIGGER = re.compile(
    r"CREATE TRIGGER (\w+) (BEFORE|AFTER|INSTEAD OF) (.+?) ON (?:\w+\.)?(\w+) FOR EACH (ROW|STATEMENT)"
    r"(?: WHEN \((.*)\))? EXECUTE (?:FUNCTION|PROCEDURE) (?:\w+\.)?(\w+)\(\)"
)
_FUNCTION = re.compile(r"CREATE (?:OR REPLACE )?FUNCTION (?:\w+\.)?(\w+)\(\) RETURNS trigger LANGUAGE plpgsql AS \$\$(.*?)\$\$", re.S)


def _live_postgres(conn: Connection) -> Schema:
    schema = Schema()
    columns: dict[str, dict[str, bool]] = {}
    for table, column, not_null in conn.execute(text(_LIVE_COLUMNS)):
        columns.setdefault(table, {})[column] = bool(not_null)
    primary: dict[str, tuple[str, ...]] = {}
    unique: dict[str, set[tuple[str, ...]]] = {}
    for table, is_primary, key in conn.execute(text(_LIVE_KEYS)):
        if is_primary:
            primary[table] = tuple(key)
        else:
            unique.setdefault(table, set()).add(tuple(sorted(key)))
    for table, cols in columns.items():
        schema.tables[table] = TableShape(cols, primary.get(table, ()), frozenset(unique.get(table, set())))
    for name, table, definition, enabled, body in conn.execute(text(_LIVE_TRIGGERS)):
        parsed = _parse_trigger(definition)
        schema.triggers[name] = (table, (parsed[1:] if parsed else definition, body, enabled != "D"))
    return schema


def _parse_trigger(definition: str) -> tuple[Any, ...] | None:
    """(table, timing, events, level, condition, function) of a CREATE TRIGGER statement, events as a set."""
    match = _TRIGGER.search(" ".join(definition.split()))
    if match is None:
        return None
    name, timing, events, table, level, when, function = match.groups()
    return (name, table, timing, frozenset(e.strip() for e in events.split(" OR ")), level, when, function)


def _postgres_triggers_from_sql(sql: str) -> dict[str, tuple[str, Any]]:
    bodies = {name: body for name, body in _FUNCTION.findall(sql)}
    triggers: dict[str, tuple[str, Any]] = {}
    for statement in sql.split(";\n"):
        parsed = _parse_trigger(statement)
        if parsed is not None:
            name, table, *_rest, function = parsed
            triggers[name] = (table, (parsed[1:], bodies.get(function), True))
    return triggers
