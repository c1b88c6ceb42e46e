"""The pre-deployment path end to end: train, gate, approve, promote — and every refusal on the way."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from govflow.errors import ComplianceBlocked
from govflow.flows.gate import gate_flow
from govflow.flows.train import train_flow
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import Artifact, CheckResultRow, Decision, StageChange
from govflow.governance.ledger.verify import verify
from govflow.governance.registry import versions as registry

from .conftest import DEFAULT, RELAXED

ROLES = ["model_owner", "risk_officer"]


def stages(ledger: Ledger, ref: str) -> list[str]:
    with ledger.read() as conn:
        version = registry.resolve(conn, ref)
        return list(conn.execute(select(StageChange.stage).where(StageChange.model_version_id == version.id)
                                 .order_by(StageChange.audit_seq)).scalars())


def test_whole_path_gate_pass_approvals_promotion(recorder: Ledger) -> None:
    trained = train_flow(str(RELAXED))
    assert trained.version == "credit-scoring:1"
    outcome = gate_flow(str(RELAXED), "1")
    assert outcome.outcome == "pass", outcome.reasons
    assert outcome.reasons[0].startswith("validation: all critical results passed")

    with pytest.raises(ComplianceBlocked) as refused:
        registry.promote(recorder, "credit-scoring:1", by="ci", required_roles=ROLES)
    assert str(refused.value) == ("cannot promote credit-scoring:1: missing: approval by role 'model_owner'; "
                                  "approval by role 'risk_officer'")

    registry.approve(recorder, "credit-scoring:1", approver="Dana Meyer", role="model_owner",
                     reason="model card reviewed", required_roles=ROLES)
    assert stages(recorder, "credit-scoring:1") == ["candidate"]
    row = registry.approve(recorder, "credit-scoring:1", approver="Ravi Patel", role="risk_officer",
                           reason="within policy", required_roles=ROLES)
    assert len(row["evidence_hash"]) == 64 and row["os_user"]
    assert stages(recorder, "credit-scoring:1") == ["candidate", "approved"]

    promoted = registry.promote(recorder, "credit-scoring:1", by="ci", required_roles=ROLES)
    assert str(promoted) == "credit-scoring:1"
    assert stages(recorder, "credit-scoring:1") == ["candidate", "approved", "production"]
    with recorder.read() as conn:
        assert registry.resolve(conn, "credit-scoring:production") == promoted
        kinds = set(conn.execute(select(Artifact.kind).where(Artifact.model_version_id == promoted.id)).scalars())
        decision = conn.execute(select(Decision).where(Decision.model_version_id == promoted.id)).mappings().one()
    assert {"model_card", "datasheet", "annex_iv", "holdout_data", "reference_data", "data_contract",
            "fairness_by_group"} <= kinds
    assert decision["outcome"] == "pass" and len(decision["policy_hash"]) == 64
    report = verify(recorder)
    assert report.intact, [str(f) for f in report.findings]


def test_default_policy_blocks_german_credit_with_its_reasons(recorder: Ledger) -> None:
    train_flow(str(DEFAULT))
    outcome = gate_flow(str(DEFAULT), "latest")
    assert outcome.outcome == "block"
    assert any(r.startswith("fairness: equalized_odds_difference on personal_status_and_sex = ")
               for r in outcome.reasons)
    with recorder.read() as conn:
        reasons = json.loads(conn.execute(select(Decision.reasons_json)).scalar_one())
    assert reasons == list(outcome.reasons)
    registry.approve(recorder, "credit-scoring:1", approver="Dana Meyer", role="model_owner", reason="ok",
                     required_roles=ROLES)
    registry.approve(recorder, "credit-scoring:1", approver="Ravi Patel", role="risk_officer", reason="ok",
                     required_roles=ROLES)
    with pytest.raises(ComplianceBlocked, match=r"missing: the gate blocked credit-scoring:1: fairness: "
                                                r"equalized_odds_difference"):
        registry.promote(recorder, "credit-scoring:1", by="ci", required_roles=ROLES)
    assert stages(recorder, "credit-scoring:1") == ["candidate"]


def test_promotion_needs_the_gate_of_that_exact_version_and_no_rejection(recorder: Ledger) -> None:
    train_flow(str(RELAXED))
    train_flow(str(RELAXED))
    assert gate_flow(str(RELAXED), "1").outcome == "pass"
    for role in ROLES:
        registry.approve(recorder, "credit-scoring:1", approver=f"A {role}", role=role, reason="ok", required_roles=ROLES)
    with pytest.raises(ComplianceBlocked) as other:
        registry.approve(recorder, "credit-scoring:2", approver="A", role="model_owner", reason="ok",
                         required_roles=ROLES)
    assert str(other.value) == ("credit-scoring:2 has not been through the gate; run "
                                "`govflow run gate -c govflow.yaml --version 2` first")
    with pytest.raises(ComplianceBlocked) as ungated:
        registry.promote(recorder, "credit-scoring:2", by="ci", required_roles=ROLES)
    assert "no gate decision for credit-scoring:2: run the gate for this exact version" in str(ungated.value)

    assert gate_flow(str(RELAXED), "2").outcome == "pass"
    registry.approve(recorder, "credit-scoring:2", approver="Dana Meyer", role="model_owner", reason="ok",
                     required_roles=ROLES)
    registry.approve(recorder, "credit-scoring:2", approver="Ravi Patel", role="risk_officer",
                     reason="selection rates drift by age", reject=True, required_roles=ROLES)
    with pytest.raises(ComplianceBlocked) as rejected:
        registry.promote(recorder, "credit-scoring:2", by="ci", required_roles=ROLES)
    assert str(rejected.value) == ("cannot promote credit-scoring:2: missing: role 'risk_officer' rejected it "
                                   "(Ravi Patel: selection rates drift by age)")

    registry.promote(recorder, "credit-scoring:1", by="ci", required_roles=ROLES)
    registry.approve(recorder, "credit-scoring:2", approver="Ravi Patel", role="risk_officer",
                     reason="re-reviewed", required_roles=ROLES)
    registry.promote(recorder, "credit-scoring:2", by="ci", required_roles=ROLES)
    assert stages(recorder, "credit-scoring:1")[-1] == "retired"
    assert stages(recorder, "credit-scoring:2")[-1] == "production"


def test_a_check_that_errors_blocks_the_gate(recorder: Ledger, tmp_path) -> None:  # type: ignore[no-untyped-def]
    train_flow(str(RELAXED))
    broken = tmp_path / "govflow.yaml"
    text = RELAXED.read_text().replace("train: ../../data/german_credit.csv", f"train: {DEFAULT.parent / 'german_credit.csv'}")
    broken.write_text(text.replace("- personal_status_and_sex", "- nationality"))
    outcome = gate_flow(str(broken), "1")
    assert outcome.outcome == "block"
    assert any(r == "check errored (fail closed): fairness: DataError: data.sensitive_features: column "
               "'nationality' is not in the data being checked (holdout_data); use the config the version was "
               "trained with, or retrain with this one"
               for r in outcome.reasons), outcome.reasons


def test_training_data_that_breaks_its_written_contract_registers_nothing(recorder: Ledger, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "govflow.yaml"
    text = RELAXED.read_text().replace("train: ../../data/german_credit.csv", f"train: {DEFAULT.parent / 'german_credit.csv'}")
    contract = "  contract: {columns: {age_in_years: {type: integer, min: 18, max: 50}}}\n"
    assert "\ndata:\n" in text
    config.write_text(text.replace("\ndata:\n", "\ndata:\n" + contract))
    with pytest.raises(ComplianceBlocked) as blocked:
        train_flow(str(config))
    assert str(blocked.value).startswith("training data failed validation against its contract: age_in_years: ")
    with recorder.read() as conn:
        assert conn.execute(select(Artifact.kind)).first() is None  # no version, nothing stored
        failed = conn.execute(select(CheckResultRow.subject).where(CheckResultRow.passed == 0)).scalars().all()
    assert "age_in_years" in failed
    assert verify(recorder).intact
