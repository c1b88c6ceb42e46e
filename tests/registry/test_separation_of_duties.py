"""Separation of duties (#16): one person, one required role; whoever registered a version may not approve it alone."""

from __future__ import annotations

from typing import Any

import pytest

from govflow.checks.policy import Policy
from govflow.errors import ComplianceBlocked
from govflow.governance.ledger.engine import Ledger
from govflow.governance.registry import versions as registry
from tests.gate_record import record_completed_gate

ROLES = ["model_owner", "risk_officer"]


def gated(ledger: Ledger, *, by: str = "ci", **policy: Any) -> str:
    roles = policy.setdefault("approvals", ROLES)
    version = registry.register_version(
        ledger, system="loans", model_data=b"model bytes", fingerprint="fp1:" + "ab" * 32, training_run_id=None,
        hyperparams={}, config_snapshot={"policy": policy}, attachments=[], by=by)
    record_completed_gate(ledger, version, reasons=["all critical results passed"], policy=Policy.from_mapping(policy).to_dict())
    assert roles
    return str(version)


def approve(ledger: Ledger, ref: str, name: str, role: str, roles: list[str] = ROLES) -> dict[str, Any]:
    return registry.approve(ledger, ref, approver=name, role=role, reason="reviewed", required_roles=roles)


def stage(ledger: Ledger, ref: str) -> str | None:
    with ledger.read() as conn:
        return registry.current_stage(conn, registry.resolve(conn, ref).id)


def test_one_person_as_two_roles_is_refused_with_the_reason(ledger: Ledger) -> None:
    ref = gated(ledger)
    approve(ledger, ref, "Dana Meyer", "model_owner")
    with pytest.raises(ComplianceBlocked) as refused:
        approve(ledger, ref, "  dana   MEYER ", "risk_officer")  # the same name, however typed
    assert str(refused.value) == (
        "cannot approve loans:1: separation of duties:   dana   MEYER  already approved loans:1 as model_owner; one "
        "person may fill only one required role for a version. Ask another person with role risk_officer, or change "
        "the policy (policy.separation_of_duties: false, put in force with `govflow policy approve`)")
    assert stage(ledger, ref) == "candidate"
    approve(ledger, ref, "Ravi Patel", "risk_officer")
    assert stage(ledger, ref) == "approved"


def test_the_same_person_may_record_the_same_role_again_and_may_always_reject(sqlite_ledger: Ledger) -> None:
    ref = gated(sqlite_ledger)
    approve(sqlite_ledger, ref, "Dana Meyer", "model_owner")
    approve(sqlite_ledger, ref, "Dana Meyer", "model_owner")
    row = registry.approve(sqlite_ledger, ref, approver="Dana Meyer", role="risk_officer", reason="no",
                           reject=True, required_roles=ROLES)
    assert row["decision"] == "reject"


def test_the_registrant_may_not_approve_alone(sqlite_ledger: Ledger) -> None:
    ref = gated(sqlite_ledger, by="alice", approvals=["risk_officer"])
    with pytest.raises(ComplianceBlocked) as refused:
        approve(sqlite_ledger, ref, "Alice", "risk_officer", ["risk_officer"])
    assert str(refused.value) == (
        "cannot approve loans:1: separation of duties: Alice registered loans:1 and may not approve it alone "
        "(the policy requires only role risk_officer); another person with role risk_officer must approve it")
    approve(sqlite_ledger, ref, "Ravi Patel", "risk_officer", ["risk_officer"])
    assert stage(sqlite_ledger, ref) == "approved"


def test_the_registrant_may_fill_one_of_two_roles(sqlite_ledger: Ledger) -> None:
    ref = gated(sqlite_ledger, by="alice")
    approve(sqlite_ledger, ref, "alice", "model_owner")
    approve(sqlite_ledger, ref, "Ravi Patel", "risk_officer")
    assert stage(sqlite_ledger, ref) == "approved"


def test_a_policy_without_separation_of_duties_lets_one_person_fill_every_role(sqlite_ledger: Ledger) -> None:
    ref = gated(sqlite_ledger, by="alice", separation_of_duties=False)
    approve(sqlite_ledger, ref, "alice", "model_owner")
    approve(sqlite_ledger, ref, "alice", "risk_officer")
    assert stage(sqlite_ledger, ref) == "approved"


def test_the_rules_are_those_of_the_policy_the_gate_applied_not_of_the_snapshot(sqlite_ledger: Ledger) -> None:
    version = registry.register_version(
        sqlite_ledger, system="loans", model_data=b"m", fingerprint="fp1:" + "cd" * 32, training_run_id=None,
        hyperparams={}, config_snapshot={"policy": {"separation_of_duties": False}}, attachments=[], by="ci")
    record_completed_gate(sqlite_ledger, version, policy=Policy().to_dict())
    approve(sqlite_ledger, str(version), "Dana Meyer", "model_owner")
    with pytest.raises(ComplianceBlocked, match="separation of duties"):
        approve(sqlite_ledger, str(version), "Dana Meyer", "risk_officer")
