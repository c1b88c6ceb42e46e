"""Which ledger `verify` reads, and how (issue #13, items 3 and 5).

verify never creates nor migrates a ledger: it opens it read-only (so it also works on a file or a
mount that cannot be written), and the home remembers the identity of its ledger (id and genesis
hash), so a ledger removed or swapped for another is tampering (exit 1, saying what was expected
and what was found). A chain whose first entry, or every entry, was deleted is tampering too.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.identity import IDENTITY_FILE
from tests.ledger.dba import tamper
from tests.ledger.helpers import db_url, govflow, record_step


def one_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home whose SQLite ledger was made by a writing command (`token create`) and holds a step."""
    home = tmp_path / "home"
    made = govflow("token", "create", "--role", "auditor", home=home)
    assert made.returncode == 0, made.stderr
    ledger = Ledger.open(home=home)
    record_step(ledger)
    ledger.close()
    return home


def identity(home: Path) -> tuple[str, str]:
    ledger = Ledger.open(home=home)
    try:
        found = ledger.identity()
        return found.ledger_id, found.genesis
    finally:
        ledger.close()


def test_verify_on_a_home_that_never_had_a_ledger_creates_nothing(tmp_path: Path) -> None:
    home = tmp_path / "empty"
    line = one_line(govflow("verify", home=home), 2)
    assert line == (f"error: there is no ledger at {home / 'ledger.db'}: verify never creates one. "
                    "Point --db (or GOVFLOW_DB_URL) or --home at the ledger to verify.")
    assert not (home / "ledger.db").exists()


def test_removed_ledger_is_tampering(home: Path) -> None:
    ledger_id, genesis = identity(home)
    for path in home.glob("ledger.db*"):
        path.unlink()
    line = one_line(govflow("verify", home=home), 1)
    assert line == (f"error: the ledger this home recorded is gone: expected ledger {ledger_id} (genesis {genesis[:16]}...) "
                    f"at sqlite:///{home / 'ledger.db'}, found no ledger there. Restore it from a backup; "
                    f"if it was retired on purpose, remove its entry from {home / IDENTITY_FILE}.")
    assert not (home / "ledger.db").exists()


def test_ledger_swapped_for_another_homes_is_tampering(home: Path, tmp_path: Path) -> None:
    ledger_id, genesis = identity(home)
    other = tmp_path / "other"
    assert govflow("token", "create", "--role", "auditor", home=other).returncode == 0
    other_id, other_genesis = identity(other)
    for path in home.glob("ledger.db*"):
        path.unlink()
    shutil.copy(other / "ledger.db", home / "ledger.db")
    line = one_line(govflow("verify", home=home), 1)
    assert line == (f"error: the ledger at sqlite:///{home / 'ledger.db'} is not the one this home recorded: expected ledger "
                    f"{ledger_id} (genesis {genesis[:16]}...), found ledger {other_id} (genesis {other_genesis[:16]}...). "
                    f"Restore the right ledger; if the change was deliberate, remove its entry from {home / IDENTITY_FILE}.")


def test_a_writing_command_does_not_adopt_a_swapped_ledger(home: Path, tmp_path: Path) -> None:
    """Recreating the ledger (rm, then any command) does not make the new one the home's."""
    for path in home.glob("ledger.db*"):
        path.unlink()
    assert govflow("token", "create", "--role", "auditor", home=home).returncode == 0
    assert "is not the one this home recorded" in one_line(govflow("verify", home=home), 1)


@pytest.fixture
def immutable(home: Path) -> Iterator[Path]:
    ledger_file = home / "ledger.db"
    made = subprocess.run(["chattr", "+i", str(ledger_file)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"chattr +i is not permitted here: {made.stderr.strip()}")
    try:
        yield ledger_file
    finally:
        subprocess.run(["chattr", "-i", str(ledger_file)], check=True)


def test_verify_reads_an_immutable_ledger_file(immutable: Path) -> None:
    with pytest.raises(PermissionError):
        open(immutable, "ab").close()  # writes really fail, even for root
    result = govflow("verify", home=immutable.parent)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ledger intact: 3 entries, 11 rows")


@pytest.fixture
def read_only_mount(home: Path, tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "ro"
    mount.mkdir()
    made = subprocess.run(["mount", "--bind", "-o", "ro", str(home), str(mount)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"a read-only bind mount is not permitted here: {made.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_verify_reads_a_ledger_on_a_read_only_mount(read_only_mount: Path, tmp_path: Path) -> None:
    """The ledger (and its artifacts) on a read-only mount; the auditor's own home beside it records the head."""
    with pytest.raises(OSError):
        (read_only_mount / "probe").write_text("")
    result = govflow("verify", home=tmp_path / "auditor", db=f"sqlite:///{read_only_mount / 'ledger.db'}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ledger intact: 3 entries, 11 rows")


def test_first_chain_entry_deleted(ledger: Ledger) -> None:
    record_step(ledger)
    tamper(ledger, "DELETE FROM audit_log WHERE seq = 1")
    result = govflow("verify", home=ledger.home, db=db_url(ledger))
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines()[0] == (
        "TAMPERING FOUND: 2 finding(s); first broken: entry 1: audit entry 1: missing: the next entry is 2")


def test_whole_audit_log_deleted(ledger: Ledger) -> None:
    record_step(ledger)
    tamper(ledger, "DELETE FROM audit_log")
    result = govflow("verify", home=ledger.home, db=db_url(ledger))
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines()[0].startswith(
        "TAMPERING FOUND: 11 finding(s); first broken: entry 1: audit entry 1: missing: the chain is empty, even its genesis entry is gone")
    assert "Traceback" not in result.stderr


@pytest.mark.postgres
def test_postgres_ledger_replaced_in_its_database(pg_ledger: Ledger, tmp_path: Path) -> None:
    """The home remembers a PostgreSQL ledger too: one re-created in the same database is not it."""
    url = db_url(pg_ledger)
    ledger_id = pg_ledger.ledger_id()
    pg_ledger.close()
    dba = Ledger.open(url, tmp_path / "dba")
    with dba.engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    dba.close()
    fresh = Ledger.open(url, tmp_path / "elsewhere")  # a new ledger, made from another home
    new_id = fresh.ledger_id()
    fresh.close()
    line = one_line(govflow("verify", home=pg_ledger.home, db=url), 1)
    assert f"expected ledger {ledger_id}" in line and f"found ledger {new_id}" in line


def test_verify_in_a_home_on_a_read_only_mount(read_only_mount: Path) -> None:
    """The whole home (ledger, artifacts, ledgers.json) read-only: verify still checks it."""
    result = govflow("verify", home=read_only_mount)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ledger intact: 3 entries, 11 rows")
