"""The locks PostgreSQL writers and migrations serialise on: locks a read-only role cannot take.

An advisory lock (``pg_advisory_xact_lock``) can be taken by any role that can connect, so the
read-only auditor role (`govflow.governance.access.roles`) could hold it and stop every writer. These are table
locks instead, in EXCLUSIVE mode: PostgreSQL grants that mode only to a role with UPDATE, DELETE or
TRUNCATE on the table (a SELECT-only role gets "permission denied"), and it does not conflict with
the ACCESS SHARE lock that a reader's SELECT (or ``LOCK TABLE ... IN ACCESS SHARE MODE``) takes.

* Writers lock ``govflow_write_lock`` (an empty table made by migration 0004) in their transaction.
* Migrations lock the schema-version table. A ledger already at the current version is recognised
  without any lock (`schema_state`), so opening one never waits; a fresh database gets an empty
  version table first (in its own transaction, so processes creating the same ledger at once meet
  on its lock rather than racing to create the schema).

Limit: a migration that alters an existing table needs that table's ACCESS EXCLUSIVE lock, which
waits for every open transaction that read it, an auditor's included (as with any DDL); writers
themselves never need such a lock.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import DBAPIError

WRITE_LOCK_TABLE = "govflow_write_lock"
LOCK_WRITES = text(f"LOCK TABLE {WRITE_LOCK_TABLE} IN EXCLUSIVE MODE")


def lock_writes(conn: Connection) -> None:
    """Serialise this transaction's append to the chain with every other writer's."""
    conn.execute(LOCK_WRITES)


def schema_state(conn: Connection, version_table: str) -> tuple[set[str], str | None]:
    """The database's tables and its govflow schema version (None when it has none), read unlocked."""
    tables = set(inspect(conn).get_table_names())
    found = None
    if version_table in tables:
        found = conn.execute(text(f"SELECT version_num FROM {version_table}")).scalar()
    return tables, found


def lock_migrations(engine: Engine, conn: Connection, version_table: str) -> None:
    """Take the migration lock in ``conn``'s transaction (call it first in that transaction).

    In an empty database the version table is created first, empty, in a transaction of its own;
    a process that loses the race to create it finds it made and locks it all the same.
    """
    from alembic.runtime.migration import MigrationContext

    try:
        with engine.connect() as setup, setup.begin():
            if not inspect(setup).get_table_names():
                MigrationContext.configure(setup, opts={"version_table": version_table})._ensure_version_table()
    except DBAPIError:
        with engine.connect() as check:
            if not inspect(check).has_table(version_table):  # else: made by a process starting at the same time
                raise
    conn.execute(text(f"LOCK TABLE {version_table} IN EXCLUSIVE MODE"))
