"""A recommender's policy is governed like a classifier's (#16 item 1): its first gate puts its policy
and evaluation bounds in force; a loosened bound in the config stops `govflow recommender train` before
anything is trained, until `govflow policy approve -c` (which reads a recommender config) puts it in force."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from govflow.cli.main import app
from govflow.errors import ComplianceBlocked
from govflow.flows.recommender_flow import gate_policy, load_recommender_config, train_recommender_flow
from govflow.flows.recording import set_ledger
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.verify import verify
from govflow.governance.registry import policy_in_force
from govflow.governance.registry import versions as registry

pytestmark = pytest.mark.slow
CHANGE = "evaluation.hit_rate_min: 0.2 -> 0.1"


def cli(ledger: Ledger, *args: str) -> Result:
    url = ledger.engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(app, ["--home", str(ledger.home), "--db", url, *args])
    set_ledger(ledger)  # the CLI points recording at a ledger of its own
    return result


def test_a_loosened_recommender_gate_stops_until_the_risk_officer_puts_it_in_force(recorder: Ledger,
                                                                                   config_file: Path) -> None:
    first = train_recommender_flow(str(config_file))
    strict_hash = policy_in_force.policy_hash(gate_policy(load_recommender_config(config_file)))
    with recorder.read() as conn:
        current = policy_in_force.in_force(conn, "movie-recs")
    assert current is not None and (current.policy_hash, current.role) == (strict_hash, "first gate")

    text = config_file.read_text(encoding="utf-8")
    config_file.write_text(text.replace("hit_rate_min: 0.2", "hit_rate_min: 0.1"), encoding="utf-8")
    stopped = cli(recorder, "recommender", "train", "-c", str(config_file))
    assert isinstance(stopped.exception, ComplianceBlocked) and stopped.exception.exit_code == 1, stopped.output
    assert str(stopped.exception).startswith(
        f"the policy in {config_file} differs from the policy in force for movie-recs: {CHANGE} (policy {strict_hash[:12]} -> ")
    with recorder.read() as conn:  # stopped before training: no version registered
        assert (first.version, registry.next_version(conn, "movie-recs")) == ("movie-recs:1", 2)

    refused = cli(recorder, "policy", "approve", "-c", str(config_file), "--as", "Dana Meyer", "--role", "model_owner",
                  "--reason", "looser")
    assert isinstance(refused.exception, ComplianceBlocked)
    assert str(refused.exception).startswith("role 'model_owner' does not own the policy of movie-recs")
    approved = cli(recorder, "policy", "approve", "-c", str(config_file), "--as", "Ravi Patel", "--role", "risk_officer",
                   "--reason", "a hit rate of 0.1 is enough for a catalogue this small")
    assert approved.exit_code == 0, approved.output
    loose_hash = policy_in_force.policy_hash(gate_policy(load_recommender_config(config_file)))
    assert approved.output.strip() == (f"policy {loose_hash[:12]} is now in force for movie-recs (was {strict_hash[:12]}: "
                                       f"{CHANGE}), by Ravi Patel (risk_officer)")

    passed = cli(recorder, "recommender", "train", "-c", str(config_file))
    assert passed.exit_code == 0, passed.output
    assert "registered movie-recs:2 as candidate" in passed.output
    with recorder.read() as conn:
        decision = registry.latest_decision(conn, registry.resolve(conn, "movie-recs:2").id)
    assert decision is not None and decision["policy_hash"] == loose_hash
    history = cli(recorder, "policy", "history", "movie-recs")
    assert history.output.splitlines()[1].endswith(
        f"{loose_hash[:12]} by Ravi Patel (risk_officer): {CHANGE} (a hit rate of 0.1 is enough for a catalogue this small)")
    shown = cli(recorder, "diff", "movie-recs:1", "movie-recs:2")
    assert shown.exit_code == 0, shown.output
    assert f"gate policy changed ({strict_hash[:12]} -> {loose_hash[:12]}): {CHANGE}; put in force by Ravi Patel" in shown.output
    assert verify(recorder).intact


def test_recommender_monitoring_judges_by_the_policy_in_force(recorder: Ledger, config_file: Path) -> None:
    from govflow.flows.recommender_flow import load_production_recommender, recommend
    from govflow.flows.recommender_monitor import check_recommender
    from tests.recommender.test_anomaly_monitoring import users
    from tests.recommender.test_scenario import trained

    trained(recorder, config_file)
    recommend(recorder, load_production_recommender(recorder, "movie-recs"), users(1, 81), caller="shop")
    config = load_recommender_config(config_file)
    wider = gate_policy(config.model_copy(update={"policy": {**config.policy, "exposure": {"ratio_min": 0.5}}}))
    policy_in_force.approve_policy(recorder, "movie-recs", wider, approver="Ravi Patel", role="risk_officer",
                                   reason="novelty varies with age on this site", os_user="tests")
    found = check_recommender(recorder, "movie-recs")
    exposure = next(r for r in found.results if r.name == "exposure_disparity")
    assert exposure.threshold == 0.5  # the version's own config says 0.8 (the default): the policy in force applies
    assert found.policy is not None and found.policy["policy_hash"] == policy_in_force.policy_hash(wider)
    shown = cli(recorder, "recommender", "check", "movie-recs")
    assert shown.output.startswith(f"judged by policy {policy_in_force.policy_hash(wider)[:12]} (in force since ")
    assert "by Ravi Patel (risk_officer): novelty varies with age on this site)" in shown.output.splitlines()[0]
