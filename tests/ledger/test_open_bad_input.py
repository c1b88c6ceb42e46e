"""Bad input when opening a ledger (issue #13): exit 2 with a message saying what is wrong, never exit 3.

A ledger path under a file, a ledger that cannot be written (an immutable file, a read-only mount,
a PostgreSQL role without write rights) and a full disk under verify.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from govflow import canonical as canon
from govflow.governance.access import roles as access
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import Artifact, Decision, ModelVersion, Run, RunState
from tests.ledger.helpers import govflow
from tests.ledger.test_verify_open import one_line

APPROVE = ("approve", "credit:1", "--as", "Ada", "--role", "risk_officer", "--reason", "reviewed")


def gated_version(ledger: Ledger) -> None:
    """credit:1, through a completed gate run that stored its documents, waiting for the risk officer's approval."""
    digest = ledger.artifacts.put(b"a fitted model")
    now = canon.utc_now()
    with ledger.write("model.registered", "model credit:1") as w:
        mv = w.add(ModelVersion, system="credit", version=1, fingerprint="fp1:" + "a" * 64, artifact_hash=digest,
                   artifact_uri=ledger.artifacts.uri(digest), hyperparams_json="{}",
                   config_snapshot='{"policy": {"approvals": ["risk_officer"]}}', created_at=now)
        run = w.add(Run, kind="flow", name="gate", params_json="{}", env_json="{}", started_at=now)
        for kind in ("model_card", "annex_iv"):
            w.add(Artifact, kind=kind, name=f"{kind}.md", content_hash=digest, uri=ledger.artifacts.uri(digest),
                  media_type="text/markdown", size=14, created_at=now, produced_by_run_id=run["id"],
                  model_version_id=mv["id"])
        w.add(Decision, model_version_id=mv["id"], run_id=run["id"], outcome="pass", reasons_json="[]",
              policy_hash="p" * 64, decided_at=now)
        w.add(RunState, run_id=run["id"], state="completed", at=now)


def test_ledger_path_under_a_file(tmp_path: Path) -> None:
    url = "sqlite:////etc/hostname/x.db"
    line = one_line(govflow("token", "create", "--role", "auditor", home=tmp_path / "home", db=url), 2)
    assert line == ("error: cannot create the folder /etc/hostname for the ledger file (File exists): a file "
                    "is in the way, or it is not writable. Point --db (or GOVFLOW_DB_URL) at a path inside a writable folder.")
    line = one_line(govflow("verify", home=tmp_path / "home", db=url), 2)
    assert line.startswith("error: there is no ledger at /etc/hostname/x.db: verify never creates one.")


@pytest.fixture
def sqlite_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    ledger = Ledger.open(home=home)
    gated_version(ledger)
    ledger.close()
    return home


def test_approve_on_an_immutable_ledger_file(sqlite_home: Path) -> None:
    ledger_file = sqlite_home / "ledger.db"
    made = subprocess.run(["chattr", "+i", str(ledger_file)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"chattr +i is not permitted here: {made.stderr.strip()}")
    try:
        result = govflow(*APPROVE, home=sqlite_home)
        assert result.returncode == 2, (result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        assert result.stderr.splitlines()[0] == (
            f"error: the ledger file {ledger_file} cannot be written (attempt to write a readonly database): it or its "
            "folder is read-only (an immutable file, a read-only mount, or no permission). Recording needs a writable "
            "ledger; `govflow verify` reads it as it is.")
        assert govflow("verify", home=sqlite_home).returncode == 0
    finally:
        subprocess.run(["chattr", "-i", str(ledger_file)], check=True)


def test_recording_in_a_home_on_a_read_only_mount(sqlite_home: Path, tmp_path: Path) -> None:
    mount = tmp_path / "ro"
    mount.mkdir()
    made = subprocess.run(["mount", "--bind", "-o", "ro", str(sqlite_home), str(mount)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"a read-only bind mount is not permitted here: {made.stderr.strip()}")
    try:
        result = govflow("token", "create", "--role", "auditor", home=mount)
        assert result.returncode == 2, (result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        assert result.stderr.splitlines()[0].startswith(f"error: the ledger file {mount / 'ledger.db'} cannot be written (")
    finally:
        subprocess.run(["umount", str(mount)], check=True)


@pytest.fixture
def auditor(pg_ledger: Ledger) -> Iterator[str]:
    name = f"auditor_{secrets.token_hex(4)}"
    access.create_auditor_role(pg_ledger, name)
    try:
        yield access.auditor_url(pg_ledger, name)
    finally:
        access.drop_auditor_role(pg_ledger, name)


@pytest.mark.postgres
def test_writing_as_the_postgres_auditor_role(pg_ledger: Ledger, auditor: str) -> None:
    gated_version(pg_ledger)
    role = auditor.split("//")[1].split("@")[0]
    for args in (APPROVE, ("token", "create", "--role", "auditor")):
        result = govflow(*args, home=pg_ledger.home, db=auditor)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        assert result.stderr.splitlines()[0].startswith(f"error: the database role {role} may not write to this ledger (")
    verified = govflow("verify", home=pg_ledger.home, db=auditor)
    assert verified.returncode == 0, verified.stderr


def test_full_disk_under_verify(sqlite_home: Path, tmp_path: Path) -> None:
    """The home (ledger and all) on a full filesystem: verify reads it all the same, and the one thing it
    writes, the head it found (heads.log), fails with exit 2 and a message, never exit 3."""
    mount = tmp_path / "full"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"mounting a small tmpfs is not permitted here: {made.stderr.strip()}")
    try:
        home = mount / "home"
        shutil.copytree(sqlite_home, home)
        subprocess.run(["dd", "if=/dev/zero", f"of={mount / 'filler'}", "bs=64k"], capture_output=True)
        result = govflow("verify", home=home)
        assert result.returncode == 2, (result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        assert "No space left on device" in result.stderr
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_full_disk_under_a_command_that_records(sqlite_home: Path, tmp_path: Path) -> None:
    """The disk fills after the ledger was made: a recording command says the disk is full (exit 2),
    not 'cannot reach the ledger database ... start the database server'; the ledger still verifies."""
    mount = tmp_path / "full"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"mounting a small tmpfs is not permitted here: {made.stderr.strip()}")
    try:
        home = mount / "home"
        shutil.copytree(sqlite_home, home)
        subprocess.run(["dd", "if=/dev/zero", f"of={mount / 'filler'}", "bs=64k"], capture_output=True)
        result = govflow("token", "create", "--role", "auditor", home=home)
        line = one_line(result, 2)
        assert line.startswith(f"error: the ledger file {home / 'ledger.db'} could not be written or read (")
        assert line.endswith("): the disk holding it is full or failing. Free some space (or check the disk) and run again.")
        (mount / "filler").unlink()
        assert govflow("verify", home=home).returncode == 0
    finally:
        subprocess.run(["umount", str(mount)], check=True)
