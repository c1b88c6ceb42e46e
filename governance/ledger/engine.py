"""The lineage ledger: opening it, and the one way to write to it.

Every write goes through `Ledger.write`, one transaction that buffers the rows a step produced,
then stamps them with the next audit sequence number, inserts them and appends exactly one
hash-chained audit entry covering them (see `govflow.canonical` for the encoding). Writers are
serialised (SQLite ``BEGIN IMMEDIATE``; on PostgreSQL a table lock, see `govflow.governance.ledger.pg_locks`) so the chain
never forks, and a transaction either lands whole or not at all. The rows and their hashing are in
`govflow.governance.ledger.rows`, the writer in `govflow.governance.ledger.writer`; inside a recorded
step, `Ledger.write` joins the step's one transaction (`Ledger.step`). The files the ledger records
are kept by the `ArtifactStore` it is handed (the govflow home's folder by default).

SQLite (the embedded default) runs in WAL mode with a busy timeout; ``synchronous=NORMAL`` is
durable against a process crash, ``GOVFLOW_SQLITE_SYNCHRONOUS=FULL`` also against power loss.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, DBAPIError, OperationalError

from govflow.errors import LedgerError, TamperingError
from govflow.governance.ledger import readonly
from govflow.governance.ledger.artifacts import ArtifactStore, FileArtifactStore
from govflow.governance.ledger.errors import (
    BAD_SCHEME,
    BAD_URL,
    EMPTY_CHAIN,
    HOME_NOT_A_FOLDER,
    NEWER_SCHEMA,
    NO_GENESIS,
    NOT_A_LEDGER,
    REPLACED,
    corrupt,
    explain,
    make_folder,
    write_refused,
)
from govflow.governance.ledger.errors import (
    CORRUPT as CORRUPT,
)
from govflow.governance.ledger.errors import (
    NO_FOLDER as NO_FOLDER,
)
from govflow.governance.ledger.errors import (
    UNREACHABLE as UNREACHABLE,
)
from govflow.governance.ledger.identity import Identity, of_ledger, remember
from govflow.governance.ledger.ids import new_id
from govflow.governance.ledger.pg_locks import lock_migrations, lock_writes, schema_state
from govflow.governance.ledger.readonly import MIGRATIONS as MIGRATIONS
from govflow.governance.ledger.rows import COLUMN_KINDS as COLUMN_KINDS
from govflow.governance.ledger.rows import TABLES as TABLES
from govflow.governance.ledger.rows import row_hash as row_hash
from govflow.governance.ledger.schema import AuditEntry
from govflow.governance.ledger.writer import NESTED_WRITE, StepTransaction, Writer, active_step

VERSION_TABLE = "govflow_schema_version"

def resolve_home(home: str | Path | None = None) -> Path:
    """The govflow home: ``--home``, else ``GOVFLOW_HOME``, else ``./.govflow``."""
    return Path(home or os.environ.get("GOVFLOW_HOME") or ".govflow").absolute()


def resolve_url(url: str | None, home: Path) -> str:
    """The ledger URL: ``--db``, else ``GOVFLOW_DB_URL``, else the SQLite file in the home."""
    return url or os.environ.get("GOVFLOW_DB_URL") or f"sqlite:///{home / 'ledger.db'}"


def identity_key(url: str | None, home: Path) -> str:
    """Where the ledger is, as the home records its identity: the database's URL without driver, role nor
    password (the owner and the auditor role reach one ledger), a SQLite file by its absolute path."""
    driver_url, _ = _driver_url(resolve_url(url, home))
    file = readonly.sqlite_file(driver_url)
    if file is not None:
        return f"sqlite:///{file}"
    plain = driver_url.set(drivername=driver_url.get_backend_name(), username=None, password=None)
    return str(plain.render_as_string(hide_password=True))


def _driver_url(url: str) -> tuple[Any, str]:
    try:
        parsed = make_url(url)
    except ArgumentError as e:
        raise LedgerError(BAD_URL.format(url=url)) from e
    shown = parsed.render_as_string(hide_password=True)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg"), shown
    if backend == "sqlite" and parsed.get_driver_name() in ("pysqlite", "sqlite", ""):
        return parsed, shown
    raise LedgerError(BAD_SCHEME.format(scheme=parsed.drivername, where=shown))


class Ledger:
    """An open ledger: its engine, its govflow home and its artifact store."""

    def __init__(self, engine: Engine, home: Path, shown_url: str, artifacts: ArtifactStore | None = None) -> None:
        self.engine = engine
        self.home = home
        self.url = shown_url
        self.artifacts: ArtifactStore = artifacts if artifacts is not None else FileArtifactStore(home / "artifacts")
        self._file: Path | None = None
        self._inode = 0
        self._write_lock = threading.Lock()
        self._write_conn: Connection | None = None
        self._write_pid = 0
        self._writing_thread = 0

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @classmethod
    def open(cls, url: str | None = None, home: str | Path | None = None, *, read_only: bool = False) -> Ledger:
        """Open the ledger; bad input raises `LedgerError`.

        For writing (the default) it is created and migrated as needed, and the home records its
        identity (`govflow.governance.ledger.identity`). ``read_only`` (verify) opens an existing ledger at
        the current schema version and never writes to it, nor to the home (`govflow.governance.ledger.readonly`).
        """
        home_path = resolve_home(home)
        if home_path.exists() and not home_path.is_dir():
            raise LedgerError(HOME_NOT_A_FOLDER.format(home=home_path))
        driver_url, shown = _driver_url(resolve_url(url, home_path))
        if read_only:
            return cls._open_read_only(driver_url, shown, home_path)
        file = readonly.sqlite_file(driver_url)
        if file is not None:
            make_folder(file.parent)
        engine = _make_engine(driver_url)
        ledger = cls(engine, home_path, shown)
        try:
            ledger._migrate()
            if file is not None:
                ledger._file = Path(driver_url.database)
                ledger._inode = os.stat(ledger._file).st_ino
            found = ledger._identity_or_none()
            if found is not None:  # a ledger whose genesis is gone is not adopted: verify reports it
                remember(home_path, identity_key(url, home_path), found)
        except LedgerError:
            engine.dispose()
            raise
        except (OperationalError, DatabaseError) as e:
            engine.dispose()
            raise ledger._explain(e) from e
        return ledger

    @classmethod
    def _open_read_only(cls, driver_url: Any, shown: str, home: Path) -> Ledger:
        from alembic.script import ScriptDirectory

        known = ScriptDirectory(str(MIGRATIONS)).get_current_head()
        try:
            engine = readonly.open_engine(driver_url, shown, VERSION_TABLE, known)
        except (OperationalError, DatabaseError) as e:
            raise explain(shown, e) from e
        return cls(engine, home, shown)

    def _explain(self, error: Exception) -> LedgerError:
        return explain(self.url, error)

    def _migrate(self) -> None:
        from alembic import command  # imported here: opening an up-to-date ledger should stay cheap
        from alembic.config import Config
        from alembic.script import ScriptDirectory

        script = ScriptDirectory(str(MIGRATIONS))
        known = script.get_current_head()
        with self.engine.connect() as conn:  # unlocked first: an up-to-date ledger opens without waiting
            if self._schema_is(known, *schema_state(conn, VERSION_TABLE)):
                return
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn = conn.execution_options(govflow_write=True)
            with conn.begin():
                if not self.is_sqlite:
                    lock_migrations(self.engine, conn, VERSION_TABLE)
                tables, found = schema_state(conn, VERSION_TABLE)
                if self._schema_is(known, tables, found):
                    return
                if found is not None and found not in {rev.revision for rev in script.walk_revisions()}:
                    raise LedgerError(NEWER_SCHEMA.format(where=self.url, found=found, known=known))
                config = Config()
                config.set_main_option("script_location", str(MIGRATIONS))
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
                if found is None:
                    self._genesis(conn)

    def _schema_is(self, known: str | None, tables: set[str], found: str | None) -> bool:
        """Whether the database is a ledger at schema version ``known``; `LedgerError` if it is no ledger."""
        if tables and VERSION_TABLE not in tables:
            listed = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
            raise LedgerError(NOT_A_LEDGER.format(where=self.url, tables=listed))
        return found == known

    def _genesis(self, conn: Connection) -> None:
        writer = Writer(conn)
        writer._commit("ledger.created", f"ledger {new_id()}")

    @contextmanager
    def write(self, event_type: str, subject: str) -> Iterator[Writer]:
        """One transaction: rows added to the writer land with exactly one audit entry.

        Inside a recorded step (`step`) it joins the step's transaction instead: its rows land with
        the step's own record, under the step's one audit entry (``event_type`` and ``subject`` are
        then the step's).
        """
        step = active_step(self)
        if step is not None:
            with step.block() as writer:
                yield writer
            return
        try:
            with self._write_connection() as conn, conn.begin():
                if not self.is_sqlite:
                    lock_writes(conn)
                self._check_file()
                writer = Writer(conn)
                yield writer
                writer._commit(event_type, subject)
        except Exception as e:  # the recording hot path raises the driver's own errors, unwrapped
            refused = write_refused(self.url, self.engine.url.username, e)
            if refused is None:
                raise
            raise refused from e

    def step(self) -> StepTransaction:
        """The transaction of one recorded step (`govflow.governance.ledger.writer.StepTransaction`)."""
        return StepTransaction(self, self._open_transaction, self._refused)

    def _refused(self, error: Exception) -> Exception | None:
        return write_refused(self.url, self.engine.url.username, error)

    def _open_transaction(self) -> tuple[Writer, Callable[[bool], None]]:
        """A write transaction held open across calls: its writer, and ``end(commit)``."""
        stack = ExitStack()
        try:
            conn = stack.enter_context(self._write_connection())
            transaction = stack.enter_context(conn.begin())
            if not self.is_sqlite:
                lock_writes(conn)
            self._check_file()
        except BaseException as e:
            stack.__exit__(type(e), e, e.__traceback__)
            raise

        def end(commit: bool) -> None:
            if commit:
                stack.close()
                return
            try:
                transaction.rollback()
            finally:
                stack.close()

        return Writer(conn), end

    @contextmanager
    def _write_connection(self) -> Iterator[Connection]:
        """The connection this process writes through, kept open between writes (checking a pooled
        connection out and back in cost more than SQLite's own work on a recorded task). Writers in
        one process take turns on it; across processes the database's write lock orders them."""
        if self._writing_thread == threading.get_ident():
            raise RuntimeError(NESTED_WRITE)
        with self._write_lock:
            self._writing_thread = threading.get_ident()
            conn = self._write_conn
            if conn is None or conn.closed or conn.invalidated or self._write_pid != os.getpid():
                conn = self.engine.connect()  # a forked child opens its own; never the parent's
                if self.is_sqlite:
                    conn = conn.execution_options(govflow_write=True)
                self._write_conn, self._write_pid = conn, os.getpid()
            try:
                yield conn
            except DBAPIError as e:
                if e.connection_invalidated:  # e.g. a restarted server: the next write reconnects
                    self._write_conn = None
                raise
            finally:
                self._writing_thread = 0

    def _check_file(self) -> None:
        """SQLite keeps writing into a file unlinked under an open connection: refuse, or nothing is recorded."""
        if self._file is None:
            return
        try:
            same = os.stat(self._file).st_ino == self._inode
        except OSError:
            same = False
        if not same:
            raise LedgerError(REPLACED.format(where=self._file))

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reading. A database lost or found corrupted on the way is a `LedgerError`.

        Inside a recorded step whose transaction is open, the transaction's own connection: the
        step reads what it has written so far.
        """
        step = active_step(self)
        conn = step.connection() if step is not None else None
        if conn is not None:
            yield conn
            return
        try:
            with self.engine.connect() as conn:
                yield conn
        except DatabaseError as e:
            # A page damaged past the schema only shows when it is read, long after `open`.
            if isinstance(e, OperationalError) or corrupt(e):
                raise self._explain(e) from e
            raise

    def head(self) -> tuple[int, str]:
        with self.read() as conn:
            row = conn.execute(
                select(AuditEntry.seq, AuditEntry.entry_hash).order_by(AuditEntry.seq.desc()).limit(1)
            ).first()
        if row is None:
            raise TamperingError(EMPTY_CHAIN.format(where=self.url))
        return int(row[0]), str(row[1])

    def identity(self) -> Identity:
        """The ledger's id and genesis hash; `TamperingError` when its genesis entry is gone."""
        found = self._identity_or_none()
        if found is None:
            raise TamperingError(NO_GENESIS.format(where=self.url))
        return found

    def _identity_or_none(self) -> Identity | None:
        with self.read() as conn:
            return of_ledger(conn)

    def ledger_id(self) -> str:
        return self.identity().ledger_id

    def close(self) -> None:
        with self._write_lock:
            if self._write_conn is not None and self._write_pid == os.getpid():
                self._write_conn.close()
            self._write_conn = None
        self.engine.dispose()


def _make_engine(url: Any) -> Engine:
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})
    engine = create_engine(url, connect_args={"timeout": 60})
    synchronous = os.environ.get("GOVFLOW_SQLITE_SYNCHRONOUS", "NORMAL").upper()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA busy_timeout = 60000")
        cursor.execute("PRAGMA cache_size = -65536")  # 64 MiB: a batch of 5,000 predictions no longer spills mid-transaction
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute(f"PRAGMA synchronous = {'FULL' if synchronous == 'FULL' else 'NORMAL'}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A writer takes the write lock up front, so its reads and its append are one snapshot.
        immediate = conn.get_execution_options().get("govflow_write")
        conn.connection.dbapi_connection.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")  # type: ignore[union-attr]

    return engine
