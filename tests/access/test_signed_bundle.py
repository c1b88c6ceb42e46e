"""Signed approvals in the auditor's bundle: its own verifier checks each signature with ssh-keygen, fails a
modified approval, and says so when ssh-keygen is missing."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

from govflow.governance.access import signatures
from govflow.governance.ledger.engine import Ledger
from govflow.governance.reports import bundle_verifier
from govflow.governance.reports.bundle import build_bundle
from tests.access.test_signatures import ROLES, approve, gated, keys  # noqa: F401 - the fixture

__all__ = ["keys"]


def test_the_verifier_signs_over_the_same_statement() -> None:
    approval = {"model_version_id": "m", "role": "risk_officer", "approver": "Ravi ✓", "decision": "approve",
                "rationale": "ok", "evidence_hash": "e" * 64, "id": "not signed"}
    assert bundle_verifier.SIGNED_FIELDS == signatures.STATEMENT_FIELDS
    assert bundle_verifier.canonical({"namespace": "govflow", "approval": {k: approval[k] for k in bundle_verifier.SIGNED_FIELDS}}) \
        == signatures.statement(approval)


def bundle(ledger: Ledger, tmp_path: Path, keys: dict[str, Path]) -> Path:
    ref = gated(ledger, tmp_path)
    approve(ledger, ref, "Dana Meyer", "model_owner", keys["dana"])
    approve(ledger, ref, "Ravi Patel", "risk_officer", keys["ravi"])
    out = tmp_path / "bundle.zip"
    build_bundle(ledger, ref, out)
    folder = tmp_path / "unzipped"
    with zipfile.ZipFile(out) as archive:
        archive.extractall(folder)
    return folder


def run(folder: Path, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = None if path is None else {"PATH": path}
    return subprocess.run([sys.executable, str(folder / "verify_bundle.py"), str(folder)], capture_output=True,
                          text=True, env=env)


def test_signed_approvals_verify_in_the_bundle_and_a_modified_one_fails(sqlite_ledger: Ledger, tmp_path: Path,
                                                                        keys: dict[str, Path]) -> None:
    folder = bundle(sqlite_ledger, tmp_path, keys)
    rows = (folder / "chain" / "rows.jsonl").read_text(encoding="utf-8").splitlines()
    assert sum(json.loads(line)["table"] == "approval_signatures" for line in rows) == 2
    assert any(json.loads(line)["table"] == "policy_approvals" for line in rows)
    done = run(folder)
    assert done.returncode == 0, done.stdout
    assert "2 approval signature(s) checked with ssh-keygen -Y verify" in done.stdout

    changed = []
    for line in rows:
        item = json.loads(line)
        if item["table"] == "approvals" and item["row"]["approver"] == "Ravi Patel":
            item["row"]["rationale"] = "never looked"
            line = bundle_verifier.canonical(item).decode("utf-8")
        changed.append(line)
    (folder / "chain" / "rows.jsonl").write_text("\n".join(changed) + "\n", encoding="utf-8")
    done = run(folder)
    assert done.returncode == 1
    assert "(Ravi Patel@risk_officer): the signature does not verify (" in done.stdout
    assert "the approval or its signature was changed" in done.stdout


def test_without_ssh_keygen_the_verifier_says_the_signatures_were_not_checked(sqlite_ledger: Ledger, tmp_path: Path,
                                                                              keys: dict[str, Path]) -> None:
    folder = bundle(sqlite_ledger, tmp_path, keys)
    empty = tmp_path / "empty-path"
    empty.mkdir()
    done = run(folder, str(empty))
    assert done.returncode == 0, done.stdout
    assert ("WARNING: ssh-keygen was not found on PATH: 2 approval signature(s) were NOT checked; install OpenSSH "
            "8.1 or later and run this again to check them") in done.stdout
