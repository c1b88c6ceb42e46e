"""The read-only auditor role cannot stop the writers: whatever locks it tries to take and hold, a write
by the ledger's owner (and opening the ledger) still completes within seconds."""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic import command
from alembic.config import Config

from govflow.governance.access import roles as access
from govflow.governance.ledger.engine import MIGRATIONS, Ledger, _driver_url, _make_engine
from tests.access.test_access import as_role, auditor, conninfo  # noqa: F401 - `auditor` is a fixture

OLD_ADVISORY_KEYS = (0x676F76666C6F77, 0x676F76666C6F77 + 1)  # the keys govflow once serialised writers with
TABLE_LOCK_MODES = ("ROW SHARE", "ROW EXCLUSIVE", "SHARE UPDATE EXCLUSIVE", "SHARE", "SHARE ROW EXCLUSIVE",
                    "EXCLUSIVE", "ACCESS EXCLUSIVE")
ROW_LOCKS = ("FOR UPDATE", "FOR NO KEY UPDATE", "FOR SHARE", "FOR KEY SHARE")
WRITE = """
import sys
from govflow import canonical as canon
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import RunState
ledger = Ledger.open(sys.argv[1], sys.argv[2])
with ledger.write("test.append", "past the auditor") as w:
    w.add(RunState, run_id="r", state="running", at=canon.utc_now())
print(w.seq)
"""


@pytest.fixture
def hostile_auditor(pg_ledger: Ledger, pg_url: str, auditor: str) -> Iterator[psycopg.Connection]:  # noqa: F811
    """A session of the auditor role that has taken every lock it was allowed to, and holds them."""
    access.create_auditor_role(pg_ledger, auditor)
    conn = psycopg.connect(conninfo(as_role(pg_url, auditor)))
    try:
        conn.execute("SET default_transaction_read_only = off")  # the role may switch it off for its session
        conn.commit()
        yield conn
    finally:
        conn.close()


def govflow_tables(conn: psycopg.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]


def test_an_auditor_holding_every_lock_it_can_take_does_not_block_a_write(
        pg_ledger: Ledger, pg_url: str, hostile_auditor: psycopg.Connection) -> None:
    conn = hostile_auditor
    tables = govflow_tables(conn)
    assert "audit_log" in tables and "govflow_schema_version" in tables
    # Session-level advisory locks outlive transactions: held on the old keys for the whole test.
    for key in OLD_ADVISORY_KEYS:
        conn.execute("SELECT pg_advisory_lock(%s)", (key,))
    refused: list[str] = []
    for table in tables:
        conn.execute(f"LOCK TABLE {table} IN ACCESS SHARE MODE")  # a reader's lock: allowed, and kept
        for mode in TABLE_LOCK_MODES:
            try:
                with conn.transaction():  # a savepoint: a refusal leaves the held locks in place
                    conn.execute(f"LOCK TABLE {table} IN {mode} MODE")
            except psycopg.errors.InsufficientPrivilege:
                refused.append(f"{table} {mode}")
        for clause in ROW_LOCKS:
            try:
                with conn.transaction():
                    conn.execute(f"SELECT * FROM {table} LIMIT 1 {clause}")
            except psycopg.errors.InsufficientPrivilege:
                refused.append(f"{table} {clause}")
    expected = [f"{t} {m}" for t in tables for m in (*TABLE_LOCK_MODES, *ROW_LOCKS)]
    assert refused == expected, sorted(set(expected) - set(refused))
    # The auditor's transaction is still open, holding ACCESS SHARE on every table and both advisory keys.
    try:
        done = subprocess.run([sys.executable, "-c", WRITE, pg_url, str(pg_ledger.home)],
                              capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("a write by the owner hung behind the auditor's locks")
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == pg_ledger.head()[0]
    conn.rollback()


def test_an_auditor_cannot_block_the_migration_of_an_older_ledger(pg_url: str, tmp_path: Path) -> None:
    """A ledger at an older schema version is migrated on open, past an auditor holding what it can.

    Its own empty database and role: the `auditor` fixture would open (so migrate) the ledger first."""
    role = f"gf_auditor_{secrets.token_hex(4)}"
    try:
        _migrate_past_an_auditor(pg_url, role, tmp_path)
    finally:
        with psycopg.connect(conninfo(pg_url), autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                conn.execute(f'DROP OWNED BY "{role}"')
                conn.execute(f'DROP ROLE "{role}"')


def _migrate_past_an_auditor(pg_url: str, role: str, tmp_path: Path) -> None:
    engine = _make_engine(_driver_url(pg_url)[0])
    older = Ledger(engine, tmp_path / "home", pg_url)
    try:
        with engine.begin() as conn:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = conn
            command.upgrade(config, "0002")
        with engine.begin() as conn:
            for statement in access.auditor_role_statements(older, role):
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()
    with psycopg.connect(conninfo(as_role(pg_url, role))) as conn:
        conn.execute("SET default_transaction_read_only = off")
        for key in OLD_ADVISORY_KEYS:
            conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        older_version = conn.execute("SELECT version_num FROM govflow_schema_version").fetchone()  # held open
        assert older_version == ("0002",), older_version  # the ledger really is an older one
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            conn.execute("LOCK TABLE govflow_schema_version IN EXCLUSIVE MODE")
        try:
            done = subprocess.run([sys.executable, "-c", WRITE, pg_url, str(tmp_path / "home")],
                                  capture_output=True, text=True, timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail("the migration on open hung behind the auditor's locks")
        assert done.returncode == 0, done.stderr
        conn.rollback()
    reopened = Ledger.open(pg_url, tmp_path / "home")
    try:
        assert reopened.head()[0] == 1  # the write (a ledger made by the migrations alone has no genesis entry)
        with reopened.read() as conn:
            now_version = conn.exec_driver_sql("SELECT version_num FROM govflow_schema_version").scalar()
        assert now_version is not None and now_version > "0002", now_version  # migrated on open
    finally:
        reopened.close()


def test_an_auditor_cannot_take_every_connection(pg_ledger: Ledger, pg_url: str, auditor: str) -> None:  # noqa: F811
    """Connections are a lock of their own: the role may hold only a few, so writers always get one."""
    access.create_auditor_role(pg_ledger, auditor)
    held = [psycopg.connect(conninfo(as_role(pg_url, auditor))) for _ in range(access.AUDITOR_CONNECTIONS)]
    try:
        with pytest.raises(psycopg.OperationalError) as refused:
            held.append(psycopg.connect(conninfo(as_role(pg_url, auditor))))
        assert f'too many connections for role "{auditor}"' in str(refused.value)
        done = subprocess.run([sys.executable, "-c", WRITE, pg_url, str(pg_ledger.home)],
                              capture_output=True, text=True, timeout=20)
        assert done.returncode == 0, done.stderr
    finally:
        for conn in held:
            conn.close()
