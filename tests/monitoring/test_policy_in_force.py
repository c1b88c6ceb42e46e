"""Monitoring judges by the policy in force (#16 item 1), not by an edited config file.

A risk officer expects the bounds she put in force to be the ones monitoring applies: a drift bound
loosened in govflow.yaml but never approved must not silence an alert. Monitoring says the file
differs (a warning naming the change and the command that would put it in force), records the policy
it applied on every result and on the incident; once `govflow policy approve` puts the new policy in
force, monitoring applies it.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner, Result

from govflow.checks.policy import Policy
from govflow.cli.main import app
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import CheckResultRow
from govflow.governance.monitoring import incidents
from tests.monitoring.system import applicants, past_midnight, serve

SYSTEM = "toy-screening"
LOOSE = {"drift": {"drifted_column_share_max": 1.0, "prediction_drift": "off"}}
CHANGES = "drift.drifted_column_share_max: 0.3 -> 1.0; drift.prediction_drift: critical -> off"


def _cli(ledger: Ledger, *args: str) -> Result:
    return CliRunner().invoke(app, ["--home", str(ledger.home), *args])


def test_an_unapproved_looser_config_does_not_silence_monitoring(released: tuple[Path, Ledger]) -> None:
    config, ledger = released
    serve(ledger, SYSTEM, applicants(600, seed=2, shift=1.0, start_id=20_000), past_midnight(7))
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("model:\n", "policy:\n  drift: {drifted_column_share_max: 1.0, prediction_drift: \"off\"}\n"
                                   "model:\n", 1), encoding="utf-8")
    strict, loose = Policy().hash(), Policy.from_mapping(LOOSE).hash()

    result = _cli(ledger, "run", "monitor", "-c", str(config), "--window", "7d")

    assert result.exit_code == 1, result.output
    assert f"  judged by policy {strict[:12]} (in force since " in result.output
    assert (f"WARNING: the policy in {config} differs from the policy in force for {SYSTEM}: {CHANGES} (policy "
            f"{loose[:12]} in the file, {strict[:12]} in force since ") in result.output
    assert "Judged by the policy in force, not by the file" in result.output
    assert f"ALERT data_drift {SYSTEM}:1" in result.output
    with ledger.read() as conn:
        share = conn.execute(select(CheckResultRow).where(CheckResultRow.name == "drifted_column_share")).mappings().one()
        opened = incidents.list_incidents(conn, SYSTEM)
    assert (json.loads(share["threshold_json"]), share["passed"]) == (0.3, 0)
    assert json.loads(share["details_json"])["policy_hash"] == strict
    assert len(opened) == 1
    recorded = opened[0].event("opened")["details"]["policy"]  # type: ignore[index]
    assert (recorded["policy_hash"], recorded["config_policy_hash"]) == (strict, loose)
    assert recorded["warning"].startswith(f"the policy in {config} differs from the policy in force")

    as_json = json.loads(_cli(ledger, "run", "monitor", "-c", str(config), "--no-incident", "--json").output)
    assert as_json["policy"]["policy_hash"] == strict and as_json["policy"]["source"] == "in force"

    approved = _cli(ledger, "policy", "approve", "-c", str(config), "--as", "Ravi Patel", "--role", "risk_officer",
                    "--reason", "drift expected after the programme widened")
    assert approved.exit_code == 0, approved.output
    after = _cli(ledger, "run", "monitor", "-c", str(config), "--no-incident")
    assert after.exit_code == 0, after.output
    assert "WARNING" not in after.output and "ALERT" not in after.output
    assert (f"  judged by policy {loose[:12]} (in force since ") in after.output
    assert "by Ravi Patel (risk_officer): drift expected after the programme widened)" in after.output


def test_the_incident_cites_the_policy_each_decision_used_and_its_history(released: tuple[Path, Ledger]) -> None:
    from govflow.flows.incident import incident_flow
    from govflow.flows.monitor import monitor_flow
    from govflow.governance.registry.policy_in_force import approve_policy

    config, ledger = released
    tighter = Policy.from_mapping({"drift": {"drifted_column_share_max": 0.2}})
    approve_policy(ledger, SYSTEM, tighter.to_dict(), approver="Ravi Patel", role="risk_officer",
                   reason="closer watch after the audit", os_user="tests")
    serve(ledger, SYSTEM, applicants(600, seed=2, shift=1.0, start_id=20_000), past_midnight(7))
    monitored = monitor_flow(str(config))
    assert monitored.incident is not None and monitored.policy is not None
    assert monitored.policy["policy_hash"] == tighter.hash()  # the file still says 0.3: the policy in force applies

    outcome = incident_flow(str(config), incident_id=monitored.incident["incident_id"])

    lines = list(outcome.root_cause)
    assert any(line.startswith(f"gate decision of {SYSTEM}:1 applied policy {Policy().hash()[:12]}, put in force by ")
               and "(first gate)" in line for line in lines), lines
    assert any(line.startswith(f"monitoring judged the alerts by policy {tighter.hash()[:12]} (in force since ")
               and line.endswith("by Ravi Patel (risk_officer): closer watch after the audit)") for line in lines), lines
    assert any(line.startswith(f"monitoring warned: the policy in {config} differs from the policy in force")
               for line in lines), lines
    history = [line for line in lines if line.startswith("policy history: ")]
    assert len(history) == 2 and history[0].endswith("(first gate): first policy (the system's first policy, put in "
                                                     "force by its first gate decision; a change needs `govflow policy approve`)")
    assert history[1].endswith(f"{tighter.hash()[:12]} by Ravi Patel (risk_officer): drift.drifted_column_share_max: "
                               "0.3 -> 0.2 (closer watch after the audit)")
    with ledger.read() as conn:
        view = incidents.get(conn, outcome.incident_id)
    assert view.event("root_cause")["details"]["policies"]["gate"]["policy_hash"] == Policy().hash()  # type: ignore[index]
    notice = next(name for name in outcome.documents if name.startswith("incident-notice") and name.endswith(".md"))
    text = _document(ledger, notice).replace("\\", "")  # Markdown escapes removed
    assert "Policies applied (from the ledger, as each decision used them, not as the config file says now):" in text
    assert f"The gate decision of `{SYSTEM}:1` applied policy `{Policy().hash()[:12]}`, put in force by " in text
    assert f"Monitoring judged the alerts by policy {tighter.hash()[:12]} (in force since " in text
    assert (f"| `{tighter.hash()[:12]}` | Ravi Patel (risk_officer) | drift.drifted_column_share_max: 0.3 -> 0.2 | "
            "closer watch after the audit |") in text


def _document(ledger: Ledger, name: str) -> str:
    from govflow.governance.ledger.schema import Artifact

    with ledger.read() as conn:
        digest = conn.execute(select(Artifact.content_hash).where(Artifact.name == name)
                              .order_by(Artifact.audit_seq.desc()).limit(1)).scalar_one()
    return ledger.artifacts.read(digest).decode("utf-8")
