"""Signed approvals (#16): ssh-keygen -Y sign over the approval's statement, checked by `verify` and refused
when the policy requires a signature or the key is not among the allowed signers."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from govflow.checks.policy import Policy
from govflow.errors import ComplianceBlocked, InputError
from govflow.governance.access import signatures
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import ApprovalSignature
from govflow.governance.ledger.verify import verify
from govflow.governance.registry import versions as registry
from tests.gate_record import record_completed_gate
from tests.ledger.dba import tamper

ROLES = ["model_owner", "risk_officer"]


def make_key(folder: Path, name: str) -> Path:
    key = folder / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True)
    return key


def allow(folder: Path, lines: list[tuple[str, Path]]) -> Path:
    path = folder / "allowed_signers"
    text = "".join(f'"{who}" namespaces="govflow" {" ".join(key.with_suffix(".pub").read_text().split()[:2])}\n'
                   for who, key in lines)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "keys"
    folder.mkdir()
    found = {name: make_key(folder, name) for name in ("dana", "ravi", "mallory")}
    allow(tmp_path, [("Dana Meyer@model_owner", found["dana"]), ("Ravi Patel@risk_officer", found["ravi"])])
    return found


def gated(ledger: Ledger, base: Path, system: str = "loans", **policy: Any) -> str:
    policy = {"allowed_signers": "allowed_signers", **policy}
    version = registry.register_version(
        ledger, system=system, model_data=b"model bytes", fingerprint="fp1:" + "ab" * 32, training_run_id=None,
        hyperparams={}, config_snapshot={"policy": policy, "base_dir": str(base)}, attachments=[], by="ci")
    record_completed_gate(ledger, version, policy=Policy.from_mapping(policy).to_dict())
    return str(version)


def approve(ledger: Ledger, ref: str, name: str, role: str, key: Path | None) -> dict[str, Any]:
    return registry.approve(ledger, ref, approver=name, role=role, reason="documents reviewed",
                            required_roles=ROLES, sign_with=key)


def test_a_signed_approval_is_recorded_and_verifies(ledger: Ledger, keys: dict[str, Path], tmp_path: Path) -> None:
    ref = gated(ledger, tmp_path, signed_approvals="required")
    row = approve(ledger, ref, "Dana Meyer", "model_owner", keys["dana"])
    approve(ledger, ref, "Ravi Patel", "risk_officer", keys["ravi"])
    assert row["signed_by"].startswith("SHA256:")
    with ledger.read() as conn:
        recorded = conn.execute(select(ApprovalSignature).where(ApprovalSignature.approval_id == row["id"])).mappings().one()
    assert recorded["principal"] == "Dana Meyer@model_owner"
    assert recorded["signature"].startswith("-----BEGIN SSH SIGNATURE-----")
    assert signatures.check(row, dict(recorded)) is None
    report = verify(ledger)
    assert report.intact, [str(f) for f in report.findings]
    with ledger.read() as conn:
        assert registry.current_stage(conn, registry.resolve(conn, ref).id) == "approved"


def test_a_modified_signed_approval_fails_verify(ledger: Ledger, keys: dict[str, Path], tmp_path: Path) -> None:
    ref = gated(ledger, tmp_path)
    row = approve(ledger, ref, "Ravi Patel", "risk_officer", keys["ravi"])
    assert verify(ledger).intact
    tamper(ledger, "UPDATE approvals SET rationale = :r WHERE id = :i", r="never looked", i=row["id"])
    problems = [str(f) for f in verify(ledger).findings]
    assert any(f"approvals/{row['id']} (Ravi Patel@risk_officer): the signature does not verify" in p
               and "the approval or its signature was changed" in p for p in problems), problems


def test_an_unsigned_approval_is_refused_when_the_policy_requires_signatures(sqlite_ledger: Ledger, tmp_path: Path) -> None:
    ref = gated(sqlite_ledger, tmp_path, signed_approvals="required")
    with pytest.raises(ComplianceBlocked) as refused:
        approve(sqlite_ledger, ref, "Ravi Patel", "risk_officer", None)
    assert str(refused.value) == (
        "the policy requires signed approvals (policy.signed_approvals: required); sign with --sign-with "
        "~/.ssh/id_ed25519 (a key allowed for Ravi Patel@risk_officer in the policy's allowed_signers)")


def test_a_key_not_among_the_allowed_signers_is_refused(sqlite_ledger: Ledger, keys: dict[str, Path], tmp_path: Path) -> None:
    ref = gated(sqlite_ledger, tmp_path)
    with pytest.raises(ComplianceBlocked) as refused:
        approve(sqlite_ledger, ref, "Ravi Patel", "risk_officer", keys["mallory"])
    assert str(refused.value).startswith("the key SHA256:")
    assert str(refused.value).endswith(
        f"may not sign for 'Ravi Patel@risk_officer': {tmp_path / 'allowed_signers'} has no line allowing it for that "
        "name and role (principal NAME@ROLE, namespaces=\"govflow\"); ask whoever keeps that file to add it")
    with pytest.raises(ComplianceBlocked, match="may not sign for 'Dana Meyer@risk_officer'"):  # allowed, but for another role
        approve(sqlite_ledger, ref, "Dana Meyer", "risk_officer", keys["dana"])
    with sqlite_ledger.read() as conn:
        assert registry.approvals_in_force(conn, registry.resolve(conn, ref).id) == {}


def test_one_key_under_two_names_is_one_person(sqlite_ledger: Ledger, keys: dict[str, Path], tmp_path: Path) -> None:
    allow(tmp_path, [("*@model_owner", keys["dana"]), ("*@risk_officer", keys["dana"])])
    ref = gated(sqlite_ledger, tmp_path)
    approve(sqlite_ledger, ref, "Dana Meyer", "model_owner", keys["dana"])
    with pytest.raises(ComplianceBlocked, match="separation of duties: the key SHA256:.* already signed loans:1's "
                       "approval as model_owner \\(by Dana Meyer\\)"):
        approve(sqlite_ledger, ref, "D. Meyer", "risk_officer", keys["dana"])


def test_signing_without_an_allowed_signers_file_or_key_says_what_to_give(sqlite_ledger: Ledger, keys: dict[str, Path],
                                                                         tmp_path: Path) -> None:
    ref = gated(sqlite_ledger, tmp_path, allowed_signers=None)
    with pytest.raises(InputError, match="^signed approvals need policy.allowed_signers: the path"):
        approve(sqlite_ledger, ref, "Ravi Patel", "risk_officer", keys["ravi"])
    ref = gated(sqlite_ledger, tmp_path, system="cards")
    with pytest.raises(InputError) as missing:
        approve(sqlite_ledger, ref, "Ravi Patel", "risk_officer", tmp_path / "nope")
    assert str(missing.value) == (f"--sign-with {tmp_path / 'nope'}: no such private key file; give the path of "
                                  "your SSH private key, e.g. ~/.ssh/id_ed25519")
