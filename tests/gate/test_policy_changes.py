"""Attack (issue #13, item 7): loosen the policy between two gate runs and look for the change.

Version 1 and 2 are trained from the same config (so their config snapshots are identical); version
1 is gated under the default policy (blocked: equalized odds 0.1), then the bound is loosened to 0.2
in the config file: the gate of version 2 stops (issue #16: the policy in force is a ledger record)
until the risk officer puts the new policy in force with `govflow policy approve`; then it passes. The policy each decision applied must be in the
ledger in full, and `govflow diff`, the incident's root cause, the Art. 73 draft and the model card
must all show that the policy changed, bound by bound (old -> new).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from govflow import canonical as canon
from govflow.checks.policy import Policy
from govflow.cli.main import app
from govflow.errors import ComplianceBlocked
from govflow.flows.gate import gate_flow
from govflow.flows.incident import incident_flow
from govflow.flows.recording import set_ledger
from govflow.flows.train import train_flow
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import Artifact, Decision, PolicyRecord
from govflow.governance.ledger.verify import verify
from govflow.governance.registry import versions as registry

from .conftest import DATA, DEFAULT

CHANGE = "fairness.equalized_odds_difference_max: 0.1 -> 0.2"


@pytest.fixture(autouse=True)
def _govflow_env() -> Iterator[None]:
    """The CLI sets GOVFLOW_HOME / GOVFLOW_DB_URL for its process: keep them to the test."""
    saved = {name: os.environ.get(name) for name in ("GOVFLOW_HOME", "GOVFLOW_DB_URL")}
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def config_copy(folder: Path, equalized_odds_max: str) -> Path:
    """The shipped default config, in a folder of its own, with the equalized-odds bound set."""
    text = DEFAULT.read_text(encoding="utf-8").replace("train: german_credit.csv", f"train: {DATA / 'german_credit.csv'}")
    text = text.replace("equalized_odds_difference_max: 0.1", f"equalized_odds_difference_max: {equalized_odds_max}")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "govflow.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def cli(ledger: Ledger, *args: str) -> Result:
    url = ledger.engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(app, ["--home", str(ledger.home), "--db", url, *args])
    set_ledger(ledger)  # the CLI points recording at a ledger of its own
    return result


def document(ledger: Ledger, model_version_id: str, kind: str) -> str:
    with ledger.read() as conn:
        content_hash = conn.execute(select(Artifact.content_hash).where(
            Artifact.model_version_id == model_version_id, Artifact.kind == kind, Artifact.media_type == "text/markdown")
            .order_by(Artifact.audit_seq.desc()).limit(1)).scalar_one()
    return ledger.artifacts.read(content_hash).decode("utf-8")


def test_a_loosened_policy_is_recorded_and_shown_bound_by_bound(prefect_harness: None, ledger: Ledger,
                                                                tmp_path: Path) -> None:
    set_ledger(ledger)
    try:
        default = config_copy(tmp_path / "default", "0.1")
        train_flow(str(default))
        train_flow(str(default))
        assert gate_flow(str(default), "1").outcome == "block"
        loosened = config_copy(tmp_path / "default", "0.2")  # the same file, edited in place
        # The edited file alone changes nothing: the gate stops, showing the difference, and decides nothing.
        with pytest.raises(ComplianceBlocked) as stopped:
            gate_flow(str(loosened), "2")
        assert str(stopped.value).startswith(
            f"the policy in {loosened} differs from the policy in force for credit-scoring: {CHANGE} (policy {Policy().hash()[:12]} -> ")
        assert "(first gate)). The gate stops until a person with the policy's owning role (risk_officer)" in str(stopped.value)
        with ledger.read() as conn:
            assert registry.latest_decision(conn, registry.resolve(conn, "credit-scoring:2").id) is None
        refused = cli(ledger, "policy", "approve", "-c", str(loosened), "--as", "Dana Meyer", "--role", "model_owner",
                      "--reason", "looser")
        assert isinstance(refused.exception, ComplianceBlocked)
        assert "role 'model_owner' does not own the policy of credit-scoring: a change needs role 'risk_officer'" in str(refused.exception)
        approved = cli(ledger, "policy", "approve", "-c", str(loosened), "--as", "Ravi Patel", "--role", "risk_officer",
                       "--reason", "equalized odds within 0.2 agreed with the board")
        assert approved.exit_code == 0, approved.output
        assert f"is now in force for credit-scoring (was {Policy().hash()[:12]}: {CHANGE})" in approved.output
        passed = gate_flow(str(loosened), "2")
        assert passed.outcome == "pass", passed.reasons
        history = cli(ledger, "policy", "history", "credit-scoring")
        assert history.exit_code == 0, history.output
        lines = history.output.splitlines()
        assert "first gate" in lines[0] and Policy().hash()[:12] in lines[0]
        assert "Ravi Patel (risk_officer)" in lines[1] and CHANGE in lines[1] and "agreed with the board" in lines[1]

        # The decision carries its policy in full: canonical content, hashed to the decision's policy_hash.
        with ledger.read() as conn:
            v1, v2 = (registry.resolve(conn, f"credit-scoring:{n}") for n in (1, 2))
            decisions = {row["model_version_id"]: row for row in conn.execute(select(Decision)).mappings()}
            records = {row["policy_hash"]: row for row in conn.execute(select(PolicyRecord)).mappings()}
        loose_hash = Policy.from_mapping({"fairness": {"equalized_odds_difference_max": 0.2}}).hash()
        assert decisions[v1.id]["policy_hash"] == Policy().hash()
        assert decisions[v2.id]["policy_hash"] == passed.policy_hash == loose_hash
        assert set(records) == {Policy().hash(), loose_hash}
        for policy_hash, row in records.items():
            assert canon.sha256_hex(row["content_json"].encode("utf-8")) == policy_hash
            assert canon.canonical(json.loads(row["content_json"])).decode("utf-8") == row["content_json"]
            assert row["system"] == "credit-scoring"
        assert json.loads(records[loose_hash]["content_json"])["fairness"]["equalized_odds_difference_max"] == 0.2

        # govflow diff: the policy each decision applied, and the bound that changed.
        shown = cli(ledger, "diff", "credit-scoring:1", "credit-scoring:2")
        assert shown.exit_code == 0, shown.output
        assert f"gate policy changed ({Policy().hash()[:12]} -> {loose_hash[:12]}): {CHANGE}; put in force by Ravi Patel (risk_officer) at " in shown.output
        assert f"  changed: {CHANGE}" in shown.output
        as_json = cli(ledger, "diff", "credit-scoring:1", "credit-scoring:2", "--json")
        policy = json.loads(as_json.output)["gate_policy"]
        assert policy["changed"] == [{"key": "fairness.equalized_odds_difference_max", "left": 0.1, "right": 0.2}]
        assert (policy["left"]["policy_hash"], policy["right"]["policy_hash"]) == (Policy().hash(), loose_hash)

        # The model card of version 2: the bounds that decision applied, and what changed since version 1's.
        card = document(ledger, v2.id, "model_card")
        assert "| `policy.fairness.equalized_odds_difference_max` | 0.2 |" in card
        assert f"`policy.{CHANGE.replace(': ', '` ')}" in card
        assert "the previous gate decision of the system (credit-scoring:1" in card
        annex = document(ledger, v2.id, "annex_iv")
        assert f"`policy.{CHANGE.replace(': ', '` ')}" in annex

        # The incident: root cause and the Art. 73 draft name the change.
        outcome = incident_flow(str(loosened), reason="complaints about refusals", kind="malfunction", version="2")
        assert any(line.startswith("gate policy changed") and CHANGE in line for line in outcome.root_cause)
        notice = document(ledger, v2.id, "incident_notice")
        assert f"gate policy changed ({Policy().hash()[:12]} -&gt; {loose_hash[:12]}): " in notice or \
            f"gate policy changed ({Policy().hash()[:12]} -> {loose_hash[:12]}): " in notice
        assert "fairness.equalized_odds_difference_max: 0.1" in notice and "0.2" in notice
        report = verify(ledger)
        assert report.intact, [str(f) for f in report.findings]
    finally:
        set_ledger(None)
