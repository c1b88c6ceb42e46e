"""The incident response flow end to end: every action recorded, traceable, and the ledger verifies."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from govflow.cli.main import app
from govflow.flows.serving import NotInProduction, load_production
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import Artifact, Incident, Run
from govflow.governance.monitoring import incidents
from tests.monitoring.system import applicants, past_midnight, release, serve

SYSTEM = "toy-screening"


def cli(ledger: Ledger, *args: str) -> Result:
    return CliRunner().invoke(app, ["--home", str(ledger.home), *args])


def second_version(config: Path) -> Path:
    """The same system retrained with its sensitive attribute as a model input (the change version 2 makes)."""
    v2 = config.with_name("toy-screening-v2.govflow.yaml")
    v2.write_text(config.read_text(encoding="utf-8").replace("  id_column: applicant_id\n",
                                                            "  id_column: applicant_id\n  sensitive_as_features: true\n"),
                  encoding="utf-8")
    return v2


def test_reported_incident_runs_the_whole_playbook(released: tuple[Path, Ledger]) -> None:
    config, ledger = released
    serve(ledger, SYSTEM, applicants(200, seed=5, start_id=50_000), past_midnight(14))
    v2_config = second_version(config)
    assert release(ledger, v2_config) == "toy-screening:2"
    serve(ledger, SYSTEM, applicants(300, seed=6, start_id=60_000), past_midnight(7))

    result = cli(ledger, "run", "incident", "-c", str(v2_config), "--kind", "fundamental_rights",
                 "--reason", "audit: version 2 takes the group as a model input")

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("incident ")
    assert " on toy-screening (fundamental_rights), implicating toy-screening:2; Art. 73 report due " in lines[0]
    assert "  suspended toy-screening:2; serving rolled back to toy-screening:1" in lines
    assert "  impact (the whole time it served): 300 decisions by toy-screening:2, " in result.output, result.output
    assert "  root cause: configuration changed: data.sensitive_as_features" in lines
    with ledger.read() as conn:
        incident_id = conn.execute(select(Incident.id)).scalar_one()
        view = incidents.get(conn, incident_id)
        flow_run = conn.execute(select(Run.parent_run_id).where(Run.id == view.opened_by_run_id)).scalar_one()
        kinds = sorted(conn.execute(select(Artifact.kind).where(
            Artifact.model_version_id == view.model_version_id, Artifact.kind.in_(
                ("incident_notice", "communication", "diff_report")))).scalars())
    assert [e["action"] for e in view.events] == ["opened", "response_plan", "frozen", "suspended", "rolled_back",
                                                  "impact_assessed", "root_cause", "documents_drafted"]
    assert kinds == ["communication"] * 4 + ["diff_report"] * 2 + ["incident_notice"] * 2
    impact = view.event("impact_assessed")["details"]  # type: ignore[index]
    assert impact["decisions"] == 300 and sum(g["decisions"] for g in impact["by_group"]) == 300
    assert load_production(ledger, SYSTEM).version.version == 1  # serving answers with version 1 again

    # The whole response is in the trace: the flow's steps, and the versions' stages.
    assert flow_run is not None  # the incident was opened by a task of the response flow
    assert_the_trace_shows_the_response(ledger, flow_run, incident_id)

    # While frozen nothing is promoted; the close needs a name; then the ledger verifies.
    refused = cli(ledger, "promote", "toy-screening:2")
    assert "the system toy-screening is frozen" in str(refused.exception)
    report_to_the_authority_and_plan_remediation(ledger, incident_id)
    assert_the_affected_decisions_are_listed(ledger, incident_id)

    closed = cli(ledger, "incident", "close", incident_id, "--as", "Ravi Patel", "--reason", "v2 withdrawn")
    assert closed.output.strip() == f"incident {incident_id} closed by Ravi Patel (risk_officer); toy-screening unfrozen"
    assert cli(ledger, "incident", "list").output.rstrip().endswith("report sent")
    verified = cli(ledger, "verify")
    assert verified.exit_code == 0 and verified.output.startswith("ledger intact: ")


def assert_the_trace_shows_the_response(ledger: Ledger, flow_run: str, incident_id: str) -> None:
    """The whole response is in the trace: the flow's steps, the versions' stages, the incident and the diff."""
    trace = cli(ledger, "trace", "run", flow_run)
    assert trace.exit_code == 0, trace.output
    assert trace.output.splitlines()[0].startswith("flow incident · completed")
    for step in ("open_reported_incident", "freeze_system", "contain", "assess_impact", "find_root_cause",
                 "draft_documents"):
        assert f"task {step} · completed" in trace.output
    model = cli(ledger, "trace", "model", "toy-screening:2")
    assert "stages: candidate → approved → production → suspended" in model.output
    assert "stages: candidate → approved → production → retired → production" in cli(
        ledger, "trace", "model", "toy-screening:1").output
    shown = cli(ledger, "incident", "show", incident_id[:12])
    assert "rolled_back" in shown.output and "report due" in shown.output
    diff = cli(ledger, "diff", "toy-screening:1", "toy-screening:2")
    assert "  * configuration changed: data.sensitive_as_features" in diff.output
    assert "  load_data.return           same" in diff.output


def report_to_the_authority_and_plan_remediation(ledger: Ledger, incident_id: str) -> None:
    """Reportable (a fundamental-rights infringement): it closes only once the report is recorded as sent."""
    early = cli(ledger, "incident", "close", incident_id, "--as", "Ravi Patel", "--reason", "v2 withdrawn")
    assert early.exit_code == 1
    assert "is reportable under EU AI Act Art. 73 (fundamental_rights, report due " in str(early.exception)
    assert "and its notification has not been sent: record the report with `govflow incident notify" in str(early.exception)
    assert "report NOT SENT" in cli(ledger, "incident", "show", incident_id[:12]).output
    sent = cli(ledger, "incident", "notify", incident_id[:12], "--to", "Bundesnetzagentur", "--reference", "KI-2026-17")
    assert sent.exit_code == 0, sent.output
    assert sent.output.startswith(f"incident {incident_id}: report KI-2026-17 sent to Bundesnetzagentur at ")
    assert "(within the deadline; due " in sent.output and "; notice incident-notice-" in sent.output
    acked = cli(ledger, "incident", "acknowledge", incident_id, "--reference", "BNetzA-ACK-9")
    assert acked.output.startswith(f"incident {incident_id}: report KI-2026-17 acknowledged by Bundesnetzagentur under "
                                   "BNetzA-ACK-9 at ")
    planned = cli(ledger, "incident", "remediate", incident_id, "--action", "retrain without the group as input",
                  "--owner", "Mia Wong", "--due", "2099-01-31")
    assert planned.output.strip() == (f"incident {incident_id}: remediation action 1 (Mia Wong, due 2099-01-31): "
                                      "retrain without the group as input")
    report = cli(ledger, "incident", "show", incident_id).output
    assert "  Art. 73: report KI-2026-17 sent to Bundesnetzagentur at " in report and "; acknowledged under BNetzA-ACK-9" in report
    assert "  remediation 1: retrain without the group as input · Mia Wong · due 2099-01-31 · open" in report


def assert_the_affected_decisions_are_listed(ledger: Ledger, incident_id: str) -> None:
    """The decisions to review one by one: the 300 made by version 2, the unfavourable ones first."""
    listing = ledger.home / "affected.csv"
    affected = cli(ledger, "incident", "affected", incident_id, "--out", str(listing))
    assert affected.exit_code == 0, affected.output
    assert affected.output.startswith(f"incident {incident_id}: 300 decisions by toy-screening:2 (the whole time it "
                                      "served), ")
    import csv

    rows = list(csv.DictReader(listing.open(encoding="utf-8")))
    assert len(rows) == 300 and list(rows[0])[:3] == ["prediction_id", "request_id", "served_at"]
    unfavourable = [r for r in rows if r["favourable"] == "False"]
    assert rows[:len(unfavourable)] == unfavourable and unfavourable  # the unfavourable ones come first
    assert rows[0]["review"] == "unfavourable decision: review it individually" and rows[0]["groups"].startswith("{")


def test_without_a_compliant_earlier_version_serving_stops(released: tuple[Path, Ledger]) -> None:
    config, ledger = released
    serve(ledger, SYSTEM, applicants(100, seed=7, start_id=70_000), past_midnight(7))
    result = cli(ledger, "run", "incident", "-c", str(config), "--reason", "scores look wrong", "--kind", "malfunction")
    assert result.exit_code == 0, result.output
    assert "  suspended toy-screening:1; serving STOPPED (no compliant earlier version)" in result.output.splitlines()
    with pytest.raises(NotInProduction) as stopped:
        load_production(ledger, SYSTEM)
    assert "toy-screening has no version in production: toy-screening:1 was suspended at " in str(stopped.value)
    assert "; the system is frozen (incident " in str(stopped.value)
