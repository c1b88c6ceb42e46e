"""The policy a judgement after release applies (#16 item 1): the policy in force, never an unapproved
edit of the config (which is named in a warning); the config's only while nothing is in force yet."""

from __future__ import annotations

from govflow.checks.policy import Policy
from govflow.governance.ledger.engine import Ledger
from govflow.governance.registry import policy_in_force
from govflow.governance.registry import versions as registry
from tests.gate_record import record_completed_gate

LOOSE = Policy.from_mapping({"drift": {"drifted_column_share_max": 0.6}}).to_dict()


def gated(ledger: Ledger) -> None:
    version = registry.register_version(ledger, system="credit-scoring", model_data=b"m", fingerprint="fp1:" + "ab" * 32,
                                        training_run_id=None, hyperparams={}, config_snapshot={}, attachments=[], by="ci")
    record_completed_gate(ledger, version)


def test_nothing_in_force_judges_by_the_config_and_says_so(sqlite_ledger: Ledger) -> None:
    with sqlite_ledger.read() as conn:
        assert policy_in_force.judging_policy(conn, "credit-scoring") is None
        assert policy_in_force.policy_section_in_force(conn, "credit-scoring") is None
        found = policy_in_force.judging_policy(conn, "credit-scoring", LOOSE, source="credit.yaml")
    assert found is not None and found.in_force is None
    assert (found.policy_hash, found.config_hash) == (Policy.from_mapping(LOOSE).hash(), Policy.from_mapping(LOOSE).hash())
    assert found.warning == ("no policy in force for credit-scoring yet (no gate decision, no `govflow policy approve`): "
                             f"judged by the policy in credit.yaml ({Policy.from_mapping(LOOSE).hash()[:12]})")
    assert found.cite() == f"policy {Policy.from_mapping(LOOSE).hash()[:12]} (the config's; no policy in force yet)"


def test_an_edited_config_is_named_but_the_policy_in_force_applies(sqlite_ledger: Ledger) -> None:
    gated(sqlite_ledger)
    with sqlite_ledger.read() as conn:
        same = policy_in_force.judging_policy(conn, "credit-scoring", Policy().to_dict())
        edited = policy_in_force.judging_policy(conn, "credit-scoring", LOOSE, source="credit.yaml")
    assert same is not None and same.warning is None and same.policy_hash == Policy().hash()
    assert edited is not None and edited.in_force is not None
    assert edited.policy_hash == Policy().hash() and edited.policy["drift"]["drifted_column_share_max"] == 0.3
    assert edited.config_hash == Policy.from_mapping(LOOSE).hash()
    assert edited.warning is not None and edited.warning.startswith(
        "the policy in credit.yaml differs from the policy in force for credit-scoring: drift.drifted_column_share_max: "
        f"0.3 -> 0.6 (policy {Policy.from_mapping(LOOSE).hash()[:12]} in the file, {Policy().hash()[:12]} in force since ")
    assert edited.warning.endswith(
        "(first gate)). Judged by the policy in force, not by the file: a changed policy applies only once a person "
        "with role risk_officer puts it in force (govflow policy approve -c credit.yaml --as NAME --role risk_officer "
        "--reason TEXT), or restore the policy in force in credit.yaml")
    assert edited.cite().startswith(f"policy {Policy().hash()[:12]} (in force since ")
    assert edited.cite().endswith(f"by {registry.os_user()} (first gate): {policy_in_force.FIRST_GATE_REASON})")


def test_after_approval_the_new_policy_applies_with_its_history(sqlite_ledger: Ledger) -> None:
    gated(sqlite_ledger)
    policy_in_force.approve_policy(sqlite_ledger, "credit-scoring", LOOSE, approver="Ravi Patel", role="risk_officer",
                                   reason="seasonal data", os_user="tests")
    with sqlite_ledger.read() as conn:
        found = policy_in_force.judging_policy(conn, "credit-scoring", LOOSE)
        section = policy_in_force.policy_section_in_force(conn, "credit-scoring")
    assert found is not None and found.warning is None and found.policy_hash == Policy.from_mapping(LOOSE).hash()
    assert section is not None and section["drift"]["drifted_column_share_max"] == 0.6
    history = found.to_dict()["history"]
    assert [(h["role"], h["changes"]) for h in history] == [
        ("first gate", "first policy"), ("risk_officer", "drift.drifted_column_share_max: 0.3 -> 0.6")]
    assert policy_in_force.history_lines(found.history)[1].endswith(
        f"{Policy.from_mapping(LOOSE).hash()[:12]} by Ravi Patel (risk_officer): drift.drifted_column_share_max: "
        "0.3 -> 0.6 (seasonal data)")
