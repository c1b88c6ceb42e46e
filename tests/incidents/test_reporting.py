"""Incidents to the end: the report sent (not drafted), acknowledged, the plan's rules, remediation, Art. 73."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from govflow import canonical as canon
from govflow.errors import ComplianceBlocked, ConfigError, InputError
from govflow.governance.config import parse_config
from govflow.governance.ledger.engine import Ledger
from govflow.governance.monitoring import incidents, reporting
from govflow.governance.monitoring.response_plan import ResponsePlan
from govflow.governance.reports.gap_incidents import incidents_reported
from tests.incidents.test_playbook import SYSTEM, implicate, version

AUTHORITY = "Bundesnetzagentur"
PLAN = ResponsePlan(roles={"lead": "risk_officer", "notify": "compliance_officer", "close": "risk_officer"},
                    contacts=({"name": "Ravi Patel", "role": "risk_officer", "email": "ravi@example.org"},
                              {"name": "Mia Wong", "role": "data_scientist"}),
                    authority={"name": AUTHORITY, "country": "DE", "contact": "ki-meldungen@example.org"},
                    rules={"malfunction": {"reportable": True, "severity": "high"}})


@pytest.fixture
def served(ledger: Ledger) -> Ledger:
    version(ledger, promote=True)
    return ledger


def view(ledger: Ledger, incident: str) -> incidents.IncidentView:
    with ledger.read() as conn:
        return incidents.get(conn, incident)


def art_73(ledger: Ledger) -> tuple[str, str]:
    with ledger.read() as conn:
        status, detail, _ = incidents_reported(conn, SYSTEM)
    return status, detail


def test_a_reportable_incident_cannot_close_before_its_report_is_sent(served: Ledger) -> None:
    incident = implicate(served, "loans:1")
    due = canon.format_ts(view(served, incident).report_due_at)
    with pytest.raises(ComplianceBlocked) as refused:
        incidents.close(served, incident, approver="Ravi Patel", reason="handled")
    assert str(refused.value) == (
        f"incident {incident} is reportable under EU AI Act Art. 73 (fundamental_rights, report due {due}) and its "
        f"notification has not been sent: record the report with `govflow incident notify {incident} --to AUTHORITY "
        "--reference REF`, then close it")
    assert art_73(served) == ("missing", f"Art. 73 report not sent within its deadline: incident {incident} "
                                         f"(report due {due}: no notice drafted)")
    sent = reporting.notify(served, incident, to=AUTHORITY, reference="BNetzA-2026-0042", by="Ravi Patel")
    assert (sent["to"], sent["reference"], sent["on_time"], sent["notice"]) == (AUTHORITY, "BNetzA-2026-0042", True, None)
    status, detail = art_73(served)
    assert (status, detail) == ("satisfied", "1 incident(s): 1 reported within the deadline, 0 not reportable")
    assert incidents.close(served, incident, approver="Ravi Patel", reason="handled")["unfrozen"] is False
    assert [e["action"] for e in view(served, incident).events] == ["opened", "notified", "closed"]


def test_a_report_sent_after_the_deadline_leaves_art_73_missing(served: Ledger) -> None:
    aware = canon.utc_now() - timedelta(days=20)
    with served.read() as conn:
        mv_id = incidents.registry.resolve(conn, "loans:1").id
    incident = incidents.open_incident(served, system=SYSTEM, kind="health_harm", summary="harm", by="tests",
                                       model_version_id=mv_id, aware_at=aware).id
    sent_at = aware + timedelta(days=16)
    sent = reporting.notify(served, incident, to=AUTHORITY, reference="R-1", sent_at=sent_at)
    assert (sent["on_time"], sent["late_by_hours"]) == (False, 24.0)
    status, detail = art_73(served)
    assert status == "missing"
    assert detail.endswith(f"sent to {AUTHORITY} (R-1) at {canon.format_ts(sent_at)}, late)")


@pytest.mark.parametrize(("sent_at", "message"), [
    ("tomorrow", "--sent-at 'tomorrow': write an RFC 3339 time, e.g. 2026-03-01T09:00:00Z"),
    ("2026-03-01T09:00:00", "--sent-at '2026-03-01T09:00:00': give the time zone, e.g. 2026-03-01T09:00:00Z"),
])
def test_a_sending_time_must_be_a_zoned_rfc_3339_time(sent_at: str, message: str) -> None:
    with pytest.raises(InputError) as refused:
        reporting.parse_moment(sent_at, "--sent-at")
    assert str(refused.value) == message


def test_a_report_cannot_be_sent_in_the_future_before_awareness_or_without_a_reference(served: Ledger) -> None:
    incident = implicate(served, "loans:1")
    future = canon.utc_now() + timedelta(days=1)
    with pytest.raises(InputError) as ahead:
        reporting.notify(served, incident, to=AUTHORITY, reference="R", sent_at=future)
    assert str(ahead.value).endswith("is in the future: record what happened, when it happened")
    before = view(served, incident).aware_at - timedelta(hours=1)
    with pytest.raises(InputError) as early:
        reporting.notify(served, incident, to=AUTHORITY, reference="R", sent_at=before)
    assert f"is before the provider became aware of incident {incident}" in str(early.value)
    with pytest.raises(InputError) as blank:
        reporting.notify(served, incident, to=AUTHORITY, reference=" ")
    assert str(blank.value) == ("--reference is empty: give the reference of the report (the authority's case or "
                                "submission number)")


def test_acknowledgement_follows_the_report(served: Ledger) -> None:
    incident = implicate(served, "loans:1")
    with pytest.raises(ComplianceBlocked) as refused:
        reporting.acknowledge(served, incident, reference="ACK-7")
    assert str(refused.value) == (f"incident {incident} has no report recorded as sent: record it first with "
                                  f"`govflow incident notify {incident} --to AUTHORITY --reference REF`")
    reporting.notify(served, incident, to=AUTHORITY, reference="R-9")
    acked = reporting.acknowledge(served, incident, reference="ACK-7", by="Ravi Patel")
    assert (acked["reference"], acked["report_reference"], acked["authority"]) == ("ACK-7", "R-9", AUTHORITY)
    assert view(served, incident).event("acknowledged")["by"] == "Ravi Patel"  # type: ignore[index]


def test_the_plan_names_the_authority_the_roles_and_which_kinds_are_reportable(served: Ledger) -> None:
    incident = implicate(served, "loans:1", kind="malfunction")
    assert view(served, incident).reportable is False  # the default plan: a malfunction is not judged serious
    planned = incidents.apply_plan(served, incident, PLAN, "tests")
    assert planned.reportable is True and planned.severity.value == "medium"  # severity stays as opened
    recorded = planned.event("response_plan")["details"]  # type: ignore[index]
    assert recorded["called"] == [{"name": "Ravi Patel", "role": "risk_officer", "email": "ravi@example.org"}]
    assert recorded["authority"] == AUTHORITY
    assert len(incidents.apply_plan(served, incident, PLAN, "tests").events) == len(planned.events)  # idempotent
    with pytest.raises(InputError) as elsewhere:
        reporting.notify(served, incident, to="CNIL", reference="R")
    assert str(elsewhere.value).startswith(f"the response plan of incident {incident} names '{AUTHORITY}' as the "
                                           "market surveillance authority, not 'CNIL': send the report there")
    reporting.notify(served, incident, to=AUTHORITY.upper(), reference="R")
    with pytest.raises(ComplianceBlocked) as role:
        incidents.close(served, incident, approver="Ravi Patel", reason="ok", role="model_owner")
    assert str(role.value) == ("the response plan this incident is handled under gives the close to the role "
                               "risk_officer, not model_owner: close it with --role risk_officer")
    assert incidents.close(served, incident, approver="Ravi Patel", reason="ok")["incident"] == incident


def test_a_plan_opened_incident_takes_its_severity_and_a_judgement_can_lift_reporting(served: Ledger) -> None:
    with served.read() as conn:
        mv_id = incidents.registry.resolve(conn, "loans:1").id
    opened = incidents.open_incident(served, system=SYSTEM, kind="malfunction", summary="scores drift", by="tests",
                                     model_version_id=mv_id, plan=PLAN)
    assert (opened.severity.value, opened.reportable) == ("high", True)
    assert [e["action"] for e in opened.events] == ["opened", "response_plan"]
    with pytest.raises(InputError) as unexplained:
        reporting.judge(served, opened.id, reportable=False, approver="Ravi Patel", reason="")
    assert str(unexplained.value) == "--reason is empty: give why it is (or is not) a serious incident under Art. 3(49)"
    reporting.judge(served, opened.id, reportable=False, approver="Ravi Patel",
                    reason="drift within tolerance; no person harmed (Art. 3(49) not met)")
    assert view(served, opened.id).reportable is False
    assert art_73(served)[0] == "satisfied"
    incidents.close(served, opened.id, approver="Ravi Patel", reason="judged not serious")


def test_remediation_is_a_timeline_of_dated_actions_with_owners(served: Ledger) -> None:
    incident = implicate(served, "loans:1")
    past = (date.today() - timedelta(days=1)).isoformat()
    first = reporting.plan_action(served, incident, action="retrain without the group as input", owner="Mia Wong",
                                  due="2099-01-31", by="Ravi Patel")
    second = reporting.plan_action(served, incident, action="review the 300 decisions", owner="Ravi Patel", due=past)
    assert (first, second) == (1, 2)
    with pytest.raises(InputError) as bad:
        reporting.plan_action(served, incident, action="x", owner="y", due="end of March")
    assert str(bad.value) == "--due 'end of March': write a date, e.g. 2026-04-30"
    reporting.complete_action(served, incident, 1, by="Mia Wong", note="loans:2 trained")
    with pytest.raises(ComplianceBlocked) as twice:
        reporting.complete_action(served, incident, 1, by="Mia Wong")
    assert str(twice.value).startswith(f"remediation action 1 of incident {incident} was completed at ")
    with pytest.raises(InputError) as unknown:
        reporting.complete_action(served, incident, 3, by="Mia Wong")
    assert str(unknown.value) == (f"incident {incident} has no remediation action 3; `govflow incident show {incident}` "
                                  "lists them")
    today = datetime.now(UTC).date()
    timeline = [a.to_dict(today) for a in reporting.remediation(view(served, incident))]
    assert [(a["number"], a["owner"], a["state"], a["note"]) for a in timeline] == [
        (1, "Mia Wong", "done", "loans:2 trained"), (2, "Ravi Patel", "overdue", None)]


def test_the_response_plan_in_govflow_yaml_is_validated(tmp_path: Path) -> None:
    raw = {"system": {"name": "loans", "intended_purpose": "credit"}, "data": {"train": "x.csv", "target": "y", "positive_label": 1},
           "incident_response": {"severity": {"malfunktion": {"reportable": False}}}}
    with pytest.raises(ConfigError) as bad:
        parse_config(raw, tmp_path)
    assert str(bad.value) == ("govflow.yaml: incident_response.severity: unknown incident kind 'malfunktion'; choose "
                              "among: death, health_harm, critical_infrastructure, widespread_infringement, "
                              "fundamental_rights, property_or_environment, malfunction")
    raw["incident_response"] = {"roles": {"lead": "risk_officer"}, "authority": {"name": AUTHORITY},
                                "severity": {"malfunction": {"reportable": True}}}
    plan = ResponsePlan.from_config(parse_config(raw, tmp_path))
    assert plan.reportable("malfunction") and plan.role_for("notify") == "risk_officer"
    assert plan.to_dict()["authority"] == {"name": AUTHORITY, "country": None, "contact": None}
