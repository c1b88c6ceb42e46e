"""The policy in force (#16 item 1): a ledger record; the first gate puts the first policy in force, any
other change needs `govflow policy approve` by the policy's owning role; `policy history` shows them all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from govflow.checks.policy import Policy
from govflow.cli.main import app
from govflow.errors import ComplianceBlocked, InputError
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.verify import verify
from govflow.governance.registry import policy_in_force
from govflow.governance.registry import versions as registry
from tests.gate_record import record_completed_gate

DATA = Path(__file__).resolve().parents[2] / "data"
LOOSE = {"fairness": {"equalized_odds_difference_max": 0.2}}
CHANGE = "fairness.equalized_odds_difference_max: 0.1 -> 0.2"


def config(folder: Path, equalized_odds_max: str = "0.1") -> Path:
    text = (DATA / "credit-scoring.govflow.yaml").read_text(encoding="utf-8")
    text = text.replace("train: german_credit.csv", f"train: {DATA / 'german_credit.csv'}")
    text = text.replace("equalized_odds_difference_max: 0.1", f"equalized_odds_difference_max: {equalized_odds_max}")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "govflow.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def cli(ledger: Ledger, *args: str) -> Result:
    url = ledger.engine.url.render_as_string(hide_password=False)
    return CliRunner().invoke(app, ["--home", str(ledger.home), "--db", url, *args])


def version(ledger: Ledger) -> registry.VersionRef:
    return registry.register_version(ledger, system="credit-scoring", model_data=b"m", fingerprint="fp1:" + "ab" * 32,
                                     training_run_id=None, hyperparams={}, config_snapshot={}, attachments=[], by="ci")


def test_the_first_gate_puts_the_first_policy_in_force_and_a_different_one_is_refused(ledger: Ledger) -> None:
    record_completed_gate(ledger, version(ledger), outcome="block")
    with ledger.read() as conn:
        first = policy_in_force.in_force(conn, "credit-scoring")
    assert first is not None
    assert (first.policy_hash, first.role, first.previous_policy_hash) == (Policy().hash(), "first gate", None)
    assert first.reason == policy_in_force.FIRST_GATE_REASON
    v2 = version(ledger)
    with pytest.raises(ComplianceBlocked) as refused:
        record_completed_gate(ledger, v2, policy=Policy.from_mapping(LOOSE).to_dict())
    assert str(refused.value).startswith(
        f"the policy in govflow.yaml differs from the policy in force for credit-scoring: {CHANGE} (policy "
        f"{Policy().hash()[:12]} -> {Policy.from_mapping(LOOSE).hash()[:12]}; {Policy().hash()[:12]} in force since ")
    assert str(refused.value).endswith(
        "(first gate)). The gate stops until a person with the policy's owning role (risk_officer) puts the new policy "
        "in force: govflow policy approve -c govflow.yaml --as NAME --role risk_officer --reason TEXT (or restore the "
        "policy in force in govflow.yaml)")
    with ledger.read() as conn:
        assert registry.latest_decision(conn, v2.id) is None
    assert verify(ledger).intact


def test_policy_approve_by_the_owning_role_puts_a_change_in_force(sqlite_ledger: Ledger, tmp_path: Path) -> None:
    record_completed_gate(sqlite_ledger, version(sqlite_ledger), outcome="block")
    loose = config(tmp_path, "0.2")
    wrong = cli(sqlite_ledger, "policy", "approve", "-c", str(loose), "--as", "Dana", "--role", "model_owner", "--reason", "x")
    assert isinstance(wrong.exception, ComplianceBlocked) and wrong.exception.exit_code == 1
    assert str(wrong.exception) == ("role 'model_owner' does not own the policy of credit-scoring: a change needs role "
                                    "'risk_officer' (policy.owner_role of the policy in force); use --role risk_officer")
    done = cli(sqlite_ledger, "policy", "approve", "-c", str(loose), "--as", "Ravi Patel", "--role", "risk_officer",
               "--reason", "agreed with the board")
    assert done.exit_code == 0, done.output
    loose_hash = Policy.from_mapping(LOOSE).hash()
    assert done.output.strip() == (f"policy {loose_hash[:12]} is now in force for credit-scoring (was "
                                   f"{Policy().hash()[:12]}: {CHANGE}), by Ravi Patel (risk_officer)")
    again = cli(sqlite_ledger, "policy", "approve", "-c", str(loose), "--as", "Ravi Patel", "--role", "risk_officer",
                "--reason", "again")
    assert again.output.strip() == f"policy {loose_hash[:12]} is already in force for credit-scoring; nothing recorded"
    decision = record_completed_gate(sqlite_ledger, version(sqlite_ledger), policy=Policy.from_mapping(LOOSE).to_dict())
    assert decision["policy_hash"] == loose_hash

    history = cli(sqlite_ledger, "policy", "history", "credit-scoring")
    assert history.exit_code == 0, history.output
    lines = history.output.splitlines()
    assert lines[0].endswith(f"{Policy().hash()[:12]} by {registry.os_user()} (first gate): first policy "
                             f"({policy_in_force.FIRST_GATE_REASON})")
    assert lines[1].endswith(f"{loose_hash[:12]} by Ravi Patel (risk_officer): {CHANGE} (agreed with the board)")
    assert lines[2] == f"in force: {loose_hash}"
    as_json = json.loads(cli(sqlite_ledger, "policy", "history", "credit-scoring", "--json").output)
    assert [item["policy_hash"] for item in as_json] == [Policy().hash(), loose_hash]
    assert as_json[1]["previous_policy_hash"] == Policy().hash()
    shown = json.loads(cli(sqlite_ledger, "policy", "show", "credit-scoring").output)
    assert shown["policy"]["fairness"]["equalized_odds_difference_max"] == 0.2
    assert verify(sqlite_ledger).intact


def test_a_policy_approved_before_the_first_gate_is_the_one_in_force(sqlite_ledger: Ledger, tmp_path: Path) -> None:
    done = cli(sqlite_ledger, "policy", "approve", "-c", str(config(tmp_path)), "--as", "Ravi Patel", "--role",
               "risk_officer", "--reason", "the documented default, signed before any gate")
    assert done.output.strip() == (f"policy {Policy().hash()[:12]} is now in force for credit-scoring, "
                                   "by Ravi Patel (risk_officer)")
    record_completed_gate(sqlite_ledger, version(sqlite_ledger))
    with sqlite_ledger.read() as conn:
        assert [item.role for item in policy_in_force.history(conn, "credit-scoring")] == ["risk_officer"]


def test_a_system_without_a_policy_in_force_says_how_one_comes(sqlite_ledger: Ledger) -> None:
    shown = cli(sqlite_ledger, "policy", "show", "nothing-here")
    assert isinstance(shown.exception, InputError) and shown.exception.exit_code == 2
    assert str(shown.exception).startswith("no policy in force for nothing-here yet: the first gate decision puts its "
                                           "config's policy in force")
    history = cli(sqlite_ledger, "policy", "history", "nothing-here")
    assert history.exit_code == 0 and history.output.startswith("no policy in force for nothing-here yet")


def test_the_dashboard_judges_by_the_policy_in_force_not_the_snapshot(sqlite_ledger: Ledger) -> None:
    from govflow.governance.trail.dashboard_data import load_dashboard

    record_completed_gate(sqlite_ledger, version(sqlite_ledger))
    with sqlite_ledger.read() as conn:
        assert load_dashboard(conn, "credit-scoring").rules.ratio_min == 0.8
    looser = Policy.from_mapping({"fairness": {"disparate_impact_ratio_min": 0.7}}).to_dict()
    policy_in_force.approve_policy(sqlite_ledger, "credit-scoring", looser, approver="Ravi Patel", role="risk_officer",
                                   reason="four-fifths relaxed for this portfolio", os_user="tests")
    with sqlite_ledger.read() as conn:
        assert load_dashboard(conn, "credit-scoring").rules.ratio_min == 0.7
