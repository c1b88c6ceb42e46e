"""Injected drift and injected bias each raise an alert, open an incident and make the command exit 1."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner, Result

from govflow.cli.main import app
from govflow.errors import DataError
from govflow.flows.monitor import monitor_flow, outcomes_flow
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import CheckResultRow, Run
from govflow.governance.monitoring import incidents
from tests.monitoring.system import applicants, outcomes_file, past_midnight, serve

SYSTEM = "toy-screening"


def _cli(ledger: Ledger, *args: str) -> Result:
    return CliRunner().invoke(app, ["--home", str(ledger.home), *args])


def test_a_quiet_system_raises_no_alert(released: tuple[Path, Ledger]) -> None:
    config, ledger = released
    serve(ledger, SYSTEM, applicants(600, seed=1, start_id=10_000), past_midnight(14))
    serve(ledger, SYSTEM, applicants(600, seed=2, start_id=20_000), past_midnight(7))
    outcome = monitor_flow(str(config))
    assert [r.rows for r in outcome.reports] == [600, 600]
    assert outcome.alerts == () and outcome.incident is None
    drift = outcome.reports[1].suite("drift")
    assert drift is not None and drift.passed
    assert outcome.reports[1].not_judged == ("0 prediction(s) with an outcome (fewer than 30): "
                                             "performance and fairness not judged yet",)


def test_injected_drift_opens_an_incident(released: tuple[Path, Ledger]) -> None:
    config, ledger = released
    serve(ledger, SYSTEM, applicants(600, seed=1, start_id=10_000), past_midnight(14))
    serve(ledger, SYSTEM, applicants(600, seed=2, shift=1.0, start_id=20_000), past_midnight(7))

    result = _cli(ledger, "run", "monitor", "-c", str(config), "--window", "7d")

    assert result.exit_code == 1, result.output
    assert "ALERT data_drift toy-screening:1" in result.output
    with ledger.read() as conn:
        found = incidents.list_incidents(conn, SYSTEM)
        drifted = conn.execute(select(CheckResultRow).where(
            CheckResultRow.name == "drifted_column_share", CheckResultRow.passed == 0)).mappings().all()
    assert len(found) == 1
    incident = found[0]
    assert (incident.kind.value, incident.severity.value, incident.version) == ("malfunction", "medium", "toy-screening:1")
    assert (incident.report_due_at - incident.aware_at).days == 15
    assert incident.summary.startswith("monitoring of toy-screening: data_drift alert for toy-screening:1 in window ")
    # The failing result is recorded by the monitoring run's drift task, linked to the version and tagged with the window.
    assert len(drifted) == 1
    details = json.loads(drifted[0]["details_json"])
    assert details["model_version"] == "toy-screening:1" and details["drifted"] == ["x1", "x2"]
    assert details["window"]["start"] == incident.event("opened")["details"]["window"]["start"]  # type: ignore[index]
    with ledger.read() as conn:
        task = conn.execute(select(Run.name).where(Run.id == drifted[0]["run_id"])).scalar_one()
    assert task == "assess_input_drift"


def test_injected_bias_opens_a_fundamental_rights_incident(released: tuple[Path, Ledger], tmp_path: Path) -> None:
    config, ledger = released
    served = applicants(800, seed=3, start_id=30_000)
    ids = serve(ledger, SYSTEM, served, past_midnight(7))
    first = monitor_flow(str(config))
    assert first.alerts == ()  # no outcome yet, no drift: nothing to see

    # The injected bias: for group B the model is always wrong (the outcome is the opposite of its decision).
    with ledger.read() as conn:
        from govflow.governance.monitoring.results import load_window, windows_for

        window = windows_for(conn, SYSTEM, first.reports[0].window.end - first.reports[0].window.start)[0]
        frame = load_window(conn, SYSTEM, window)
    truth = frame["decision"].map({1: "yes", 0: "no"})
    flipped = frame["decision"].map({1: "no", 0: "yes"})
    frame["label"] = truth.where(frame["group"] == "A", flipped)
    path = tmp_path / "outcomes.csv"
    frame[["prediction_id", "label"]].to_csv(path, index=False)
    receipt = outcomes_flow(str(config), str(path))
    assert (receipt["attached"], receipt["joined_on"]) == (len(ids), "prediction_id")

    outcome = monitor_flow(str(config))

    checks = {a.check for a in outcome.alerts}
    assert "fairness" in checks and "data_drift" not in checks
    fairness = next(a for a in outcome.alerts if a.check == "fairness")
    assert any(f.startswith("fairness: equalized_odds_difference on group = 1.000") for f in fairness.findings)
    assert outcome.incident is not None and outcome.incident["new"] is True
    assert outcome.incident["kind"] == "fundamental_rights"
    with ledger.read() as conn:
        incident = incidents.get(conn, outcome.incident["incident_id"])
    assert (incident.report_due_at - incident.aware_at).days == 15
    assert incident.severity.value == "high"

    # Monitoring again while that incident is open adds the alert to it instead of opening another.
    again = monitor_flow(str(config))
    assert again.incident is not None and again.incident["new"] is False
    with ledger.read() as conn:
        assert len(incidents.list_incidents(conn, SYSTEM)) == 1
        assert [e["action"] for e in incidents.get(conn, incident.id).events] == ["opened", "alert"]


def test_outcomes_join_on_the_id_column(released: tuple[Path, Ledger], tmp_path: Path) -> None:
    config, ledger = released
    served = applicants(300, seed=4, start_id=40_000)
    serve(ledger, SYSTEM, served, past_midnight(7))
    path = outcomes_file(tmp_path, served)
    result = _cli(ledger, "outcomes", "-c", str(config), "--input", str(path))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (f"attached 300 outcome(s) from {path} (joined on applicant_id); 0 row(s) matched "
                                     "no prediction; 0 superseded an earlier outcome")
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("applicant_id,label\n999999,yes\n", encoding="utf-8")
    result = _cli(ledger, "outcomes", "-c", str(config), "--input", str(unknown))
    assert isinstance(result.exception, DataError)
    assert str(result.exception) == ("unknown.csv: none of its 1 rows matches a prediction of toy-screening; check "
                                     "the ids (and that the predictions were logged in this ledger)")
    outcome = monitor_flow(str(config))
    report = outcome.reports[0]
    assert report.with_outcome == 300 and report.suite("performance") is not None
