"""Opening a ledger read-only, for `govflow verify`: never created, never migrated, never written.

SQLite: a ``file:`` URI with ``mode=ro`` (and ``PRAGMA query_only``), so a file or a mount that
cannot be written is read all the same; where even that fails (no ``-shm`` can be made beside a
file that cannot be written), ``immutable=1``, which reads the file as it stands. PostgreSQL:
every transaction read-only (``default_transaction_read_only``). The schema version is read
without a lock: an older ledger is not migrated (a writing command does that), a newer one refused.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.exc import DatabaseError, OperationalError

from govflow.errors import LedgerError
from govflow.governance.ledger.errors import NEWER_SCHEMA, NOT_A_LEDGER

MIGRATIONS = Path(__file__).parent / "migrations"

NO_LEDGER = (
    "there is no ledger at {where}: verify never creates one. "
    "Point --db (or GOVFLOW_DB_URL) or --home at the ledger to verify."
)
OLDER_SCHEMA = (
    "the ledger at {where} has schema version {found}, older than this govflow's ({known}); verify does not "
    "migrate it. Run any recording command once with this govflow (it migrates the ledger), then verify."
)


class LedgerMissing(LedgerError):
    """No ledger where one was to be read (exit 2; `verify` makes it exit 1 when the home recorded one)."""


def sqlite_file(driver_url: Any) -> Path | None:
    database = driver_url.database
    if driver_url.get_backend_name() != "sqlite" or database in (None, "", ":memory:"):
        return None
    return Path(database).absolute()


def read_only_engine(driver_url: Any, *, immutable: bool = False) -> Engine:
    path = sqlite_file(driver_url)
    if path is None:
        if driver_url.get_backend_name() == "sqlite":
            raise LedgerError("an in-memory SQLite database holds no ledger to verify; point --db at a ledger file")
        return create_engine(driver_url, pool_pre_ping=True, connect_args={
            "connect_timeout": 5, "options": "-c default_transaction_read_only=on"})
    query = "mode=ro" + ("&immutable=1" if immutable else "")
    engine = create_engine(f"sqlite:///file:{quote(str(path))}?{query}&uri=true", connect_args={"timeout": 60})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA busy_timeout = 60000")
        cursor.execute("PRAGMA cache_size = -65536")
        cursor.execute("PRAGMA query_only = 1")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.connection.dbapi_connection.execute("BEGIN")

    return engine


def open_engine(driver_url: Any, shown: str, version_table: str, known: str | None) -> Engine:
    """A read-only engine on an existing ledger at schema version ``known``; `LedgerError` otherwise."""
    path = sqlite_file(driver_url)
    if path is not None and not os.path.isfile(path):
        raise LedgerMissing(NO_LEDGER.format(where=path))
    for immutable in (False, True):
        engine = read_only_engine(driver_url, immutable=immutable)
        try:
            with engine.connect() as conn:
                tables = set(inspect(conn).get_table_names())
                found = conn.execute(text(f"SELECT version_num FROM {version_table}")).scalar() if version_table in tables else None
            break
        except OperationalError:
            engine.dispose()
            if path is None or immutable:
                raise
        except DatabaseError:
            engine.dispose()
            raise
    if not tables:
        engine.dispose()
        raise LedgerMissing(NO_LEDGER.format(where=path or shown))
    problem = None
    if version_table not in tables:
        listed = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        problem = NOT_A_LEDGER.format(where=shown, tables=listed)
    elif found != known:
        problem = _version_problem(shown, found, known, NEWER_SCHEMA)
    if problem:
        engine.dispose()
        raise LedgerError(problem)
    return engine


def _version_problem(shown: str, found: str | None, known: str | None, newer: str) -> str:
    from alembic.script import ScriptDirectory

    revisions = {rev.revision for rev in ScriptDirectory(str(MIGRATIONS)).walk_revisions()}
    if found in revisions:
        return OLDER_SCHEMA.format(where=shown, found=found, known=known)
    return newer.format(where=shown, found=found, known=known)
