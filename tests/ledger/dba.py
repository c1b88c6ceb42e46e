"""A DBA who changes the schema itself (around govflow, on purpose), for the schema and coverage attacks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, text

from govflow.governance.ledger.engine import Ledger


def make_nullable(ledger: Ledger, table: str, column: str = "audit_seq") -> None:
    """Drop a column's NOT NULL: on SQLite by rewriting the table's SQL in sqlite_master."""
    with ledger.engine.begin() as conn:
        if not ledger.is_sqlite:
            conn.execute(text(f"ALTER TABLE {table} ALTER COLUMN {column} DROP NOT NULL"))
            return
        sql = conn.execute(text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"), {"t": table}).scalar_one()
        changed = sql.replace(f"{column} INTEGER NOT NULL", f"{column} INTEGER")
        assert changed != sql
        version = conn.exec_driver_sql("PRAGMA schema_version").scalar_one()
        conn.exec_driver_sql("PRAGMA writable_schema = ON")
        conn.execute(text("UPDATE sqlite_master SET sql = :s WHERE type = 'table' AND name = :t"), {"s": changed, "t": table})
        conn.exec_driver_sql(f"PRAGMA schema_version = {version + 1}")  # every connection re-reads the schema
        conn.exec_driver_sql("PRAGMA writable_schema = OFF")


def insert(ledger: Ledger, table: str, **values: Any) -> None:
    """One row straight into a table (NULL where ``None``)."""
    columns = ", ".join(values)
    marks = ", ".join(f":{k}" for k in values)
    with ledger.engine.begin() as conn:
        conn.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({marks})"), values)


def drop_trigger(ledger: Ledger, name: str, table: str) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(text(f'DROP TRIGGER "{name}"' if ledger.is_sqlite else f'DROP TRIGGER "{name}" ON {table}'))


@contextmanager
def unguarded(ledger: Ledger) -> Iterator[Connection]:
    """A transaction in which the append-only triggers do not fire, and after which they are all back.

    The careful insider: on PostgreSQL ``session_replication_role = replica`` (a superuser's switch)
    for this transaction only; on SQLite the triggers are dropped and re-created from their own SQL
    in the same transaction. Either way the schema ends as the migrations made it, so only what was
    done to the rows is left for `verify` to find.
    """
    with ledger.engine.begin() as conn:
        if not ledger.is_sqlite:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            yield conn
            return
        saved = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")).all()
        for name, _ in saved:
            conn.execute(text(f'DROP TRIGGER "{name}"'))
        yield conn
        for _, sql in saved:
            conn.exec_driver_sql(sql)


def tamper(ledger: Ledger, sql: str, **params: Any) -> Any:
    """One statement past the append-only triggers, leaving them in place (see `unguarded`)."""
    with unguarded(ledger) as conn:
        return conn.execute(text(sql), params)
