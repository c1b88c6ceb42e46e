"""Bad input when opening a ledger: one clear line naming the problem and the fix, exit 2, no traceback.

An unexpected internal error: one line, exit 3, the traceback in ``<home>/govflow.log``.
All through the real command line, as a user meets them.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from govflow.errors import LedgerError
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.errors import BAD_SCHEME, BAD_URL, CORRUPT, NEWER_SCHEMA, NOT_A_LEDGER
from tests.ledger.helpers import GOVFLOW, db_url, govflow, record_step


def one_line_error(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """The single line a failing command printed, after checking the exit code and the silence around it."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def test_unreachable_database(tmp_path: Path) -> None:
    url = "postgresql://postgres@127.0.0.1:1/gf_nowhere"
    line = one_line_error(govflow("verify", home=tmp_path, db=url))
    assert line.startswith(f"error: cannot reach the ledger database at {url} (connection failed: ")
    assert "Connection refused" in line
    assert line.endswith("). Start the database server, or point --db (or GOVFLOW_DB_URL) at a reachable one.")


def test_unreachable_database_message_hides_the_password(tmp_path: Path) -> None:
    line = one_line_error(govflow("verify", home=tmp_path, db="postgresql://auditor:s3cret@127.0.0.1:1/gf"))
    assert "s3cret" not in line
    assert line.startswith("error: cannot reach the ledger database at postgresql://auditor:***@127.0.0.1:1/gf (")


def test_unsupported_url_scheme(tmp_path: Path) -> None:
    line = one_line_error(govflow("verify", home=tmp_path, db="mysql://root@127.0.0.1/ledger"))
    assert line == "error: " + BAD_SCHEME.format(scheme="mysql", where="mysql://root@127.0.0.1/ledger")
    assert line == (
        "error: unsupported ledger URL scheme 'mysql' in mysql://root@127.0.0.1/ledger: "
        "use sqlite:///PATH (the default) or postgresql://USER@HOST:PORT/DBNAME.")


def test_unparsable_url(tmp_path: Path) -> None:
    line = one_line_error(govflow("verify", home=tmp_path, db="ledger.db"))
    assert line == "error: " + BAD_URL.format(url="ledger.db")


def test_not_a_govflow_ledger_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "crm.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY)")
    line = one_line_error(govflow("verify", home=tmp_path / "home", db=sqlite_url(path)))
    assert line == (
        f"error: sqlite:///{path} is not a govflow ledger: it holds tables (customers, orders) but no govflow "
        "schema version. Point --db (or GOVFLOW_DB_URL) at a govflow ledger or at an empty database.")
    with sqlite3.connect(path) as conn:  # and it was left alone
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"customers", "orders"}


@pytest.mark.postgres
def test_not_a_govflow_ledger_postgres(pg_url: str, tmp_path: Path) -> None:
    engine = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE customers (id integer PRIMARY KEY)"))
    engine.dispose()
    line = one_line_error(govflow("verify", home=tmp_path, db=pg_url))
    assert line == "error: " + NOT_A_LEDGER.format(where=pg_url, tables="customers")


def schema_head() -> str:
    """The newest migration this govflow knows."""
    from alembic.script import ScriptDirectory

    from govflow.governance.ledger.engine import MIGRATIONS

    return str(ScriptDirectory(str(MIGRATIONS)).get_current_head())


def set_schema_version(ledger: Ledger, version: str) -> None:
    with ledger.engine.begin() as conn:
        conn.execute(text("UPDATE govflow_schema_version SET version_num = :v"), {"v": version})


def test_ledger_from_a_newer_schema_version(ledger: Ledger) -> None:
    record_step(ledger)
    set_schema_version(ledger, "0999_from_the_future")
    line = one_line_error(govflow("verify", home=ledger.home, db=db_url(ledger)))
    assert line == "error: " + NEWER_SCHEMA.format(where=db_url(ledger), found="0999_from_the_future", known=schema_head())
    assert "Upgrade govflow to open it; this version will not touch it." in line
    with pytest.raises(LedgerError, match="has schema version 0999_from_the_future, newer than"):
        Ledger.open(db_url(ledger), ledger.home)


def test_corrupted_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    path.write_bytes(os.urandom(8192))
    line = one_line_error(govflow("verify", home=tmp_path, db=sqlite_url(path)))
    assert line == "error: " + CORRUPT.format(where=path, reason="file is not a database")
    assert line == (
        f"error: the ledger file {path} is not a SQLite database or is corrupted (file is not a database). "
        "Restore it from a backup, or point --db at another file.")


def test_sqlite_file_damaged_past_its_schema(tmp_path: Path) -> None:
    """Damage in the data pages shows only when verify reads them: still exit 2, one line."""
    home = tmp_path / "home"
    ledger = Ledger.open(home=home)
    for n in range(150):
        record_step(ledger, n=n)
    ledger.close()
    db = home / "ledger.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with open(db, "r+b") as handle:
        handle.seek(4096 * 4)
        handle.write(b"\xa5" * 4096 * 24)
    line = one_line_error(govflow("verify", home=home))
    assert line.startswith(f"error: the ledger file {db} is not a SQLite database or is corrupted (")
    assert line.endswith("). Restore it from a backup, or point --db at another file.")


# A command that fails in a way govflow does not expect (a bug): added to the real CLI for this test,
# because every failure a user can cause is a GovflowError with its own message.
BUGGY_COMMAND = """
import govflow.cli.main as cli

@cli.app.command("explode")
def explode(path: str) -> None:
    raise IsADirectoryError(21, "Is a directory", path)

cli.main()
"""


def test_internal_error_is_one_line_and_logs_the_traceback(tmp_path: Path) -> None:
    home = tmp_path / "home"
    target = str(home / "heads.log")
    result = subprocess.run([str(Path(GOVFLOW).with_name("python")), "-c", BUGGY_COMMAND, "--home", str(home),
                             "explode", target], capture_output=True, text=True, timeout=120,
                            env={k: v for k, v in os.environ.items() if k not in ("GOVFLOW_DB_URL", "GOVFLOW_HOME")})
    line = one_line_error(result, code=3)
    log = home / "govflow.log"
    assert line == f"internal error: IsADirectoryError: [Errno 21] Is a directory: '{target}' (traceback in {log})"
    logged = log.read_text()
    assert "Traceback (most recent call last):" in logged
    assert "IsADirectoryError" in logged


def test_home_that_is_a_file_is_bad_input(tmp_path: Path) -> None:
    """`--home` naming a file: exit 2 saying so, for verify and for a command that records alike."""
    home = tmp_path / "not-a-dir"
    home.write_text("")
    for args in (("verify",), ("token", "create", "--role", "auditor")):
        line = one_line_error(govflow(*args, home=home))
        assert line == f"error: the govflow home {home} is a file, not a folder: point --home (or GOVFLOW_HOME) at a folder."
