"""The test databases on the PostgreSQL server, made fast (tests/conftest.py's ``pg_url`` and ``pg_ledger``).

Two costs dominated a PostgreSQL test, seconds each on a busy machine, and neither is what a test is about:

- migrating a new ledger (some 180 DDL statements): a fresh ledger is instead a copy of a database migrated
  once per session (``CREATE DATABASE ... TEMPLATE``), given its own genesis entry by the same call
  `Ledger.open` makes on an empty database, so each ledger still has its own identity;
- ``DROP DATABASE``, which waits for a checkpoint: databases are dropped by a background thread, and the
  session waits for the last of them at its end.
"""

from __future__ import annotations

import queue
import secrets
import threading
import time
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from govflow.governance.ledger.engine import Ledger

DONE = ""  # the dropper's last item


def url_of(server_url: str, name: str) -> str:
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


class Databases:
    """The databases one test session (one xdist worker) makes on the server ``admin_conninfo`` points at."""

    def __init__(self, server_url: str, admin_conninfo: str) -> None:
        self.server_url, self.admin = server_url, admin_conninfo
        self.template: str | None = None
        self.to_drop: queue.Queue[str] = queue.Queue()
        self.dropper = threading.Thread(target=self._drop_all, name="drop-test-databases", daemon=True)
        self.dropper.start()

    def empty(self) -> str:
        """A new, empty database; its name."""
        return self._create("")

    def ledger(self, home: Path) -> str:
        """A new database holding a fresh ledger (its own genesis, not yet remembered by ``home``); its name."""
        if self.template is None:
            self.template = self._migrated_template()
        name = self._create(f' TEMPLATE "{self.template}"')
        first = Ledger.open(url_of(self.server_url, name), home=home)  # schema current: opens without migrating
        try:
            with first.engine.connect() as conn, conn.begin():
                first._genesis(conn)  # what Ledger.open writes after migrating an empty database
        finally:
            first.close()
        return name

    def drop_later(self, name: str) -> None:
        self.to_drop.put(name)

    def close(self) -> None:
        """Drops the template and waits for every database to be dropped."""
        if self.template is not None:
            self.to_drop.put(self.template)
        self.to_drop.put(DONE)
        self.dropper.join(timeout=600)

    def _create(self, template: str) -> str:
        name = f"gf_{secrets.token_hex(6)}"
        for attempt in range(20):  # a template is refused while any session (autovacuum too) is connected to it
            try:
                with psycopg.connect(self.admin, autocommit=True) as admin:
                    admin.execute(f'CREATE DATABASE "{name}"{template}')
                return name
            except psycopg.errors.ObjectInUse:
                if attempt == 19:
                    raise
                time.sleep(0.5)
        raise AssertionError("unreachable")

    def _migrated_template(self) -> str:
        """A database at the ledger's current schema, without a genesis entry (each copy writes its own)."""
        from alembic import command
        from alembic.config import Config
        from sqlalchemy import create_engine

        from govflow.governance.ledger.engine import MIGRATIONS

        name = self._create("")
        engine = create_engine(make_url(url_of(self.server_url, name)).set(drivername="postgresql+psycopg"))
        try:
            with engine.begin() as conn:  # as Ledger._migrate runs them
                config = Config()
                config.set_main_option("script_location", str(MIGRATIONS))
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
        finally:
            engine.dispose()
        with psycopg.connect(self.admin, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" IS_TEMPLATE true')
        return name

    def _drop_all(self) -> None:
        """Drops what is queued, all at once: concurrent drops share the checkpoints each would wait for alone."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="drop") as pool:
            while True:
                batch = [self.to_drop.get()]
                while not self.to_drop.empty():
                    batch.append(self.to_drop.get())
                list(pool.map(self._drop, [name for name in batch if name != DONE]))
                if DONE in batch:
                    return

    def _drop(self, name: str) -> None:
        try:
            with psycopg.connect(self.admin, autocommit=True) as admin:
                if name == self.template:
                    admin.execute(f'ALTER DATABASE "{name}" IS_TEMPLATE false')
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except psycopg.Error as e:  # a database left behind is no test's failure; say which
            print(f"warning: test database {name} not dropped: {e}")
