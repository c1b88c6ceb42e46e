"""An incident to its end: the report to the authority, its acknowledgement, remediation, the affected.

Every step appends to the incident's timeline (``incident_events``, append-only, hash-chained):

- `notify` (``notified``): the Art. 73 report was *sent*, to whom, under which reference, when, and
  which drafted notice (its sha256) it was; whether it was within the deadline. A draft is not a report.
- `acknowledge` (``acknowledged``): the authority's acknowledgement and its reference.
- `judge` (``judged``): a person's recorded judgement that the incident is (or is not) reportable.
- `plan_action` / `complete_action` (``remediation_planned`` / ``remediation_done``): the remediation
  timeline, dated actions with an owner; `remediation` derives each action's state.
- `affected`: the decisions of the implicated version in the incident's window, one row each, to be
  reviewed individually (`govflow incident affected ID --out FILE`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from govflow import canonical as canon
from govflow.errors import ComplianceBlocked, InputError
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import Prediction, PredictionPayload
from govflow.governance.monitoring import incidents
from govflow.governance.monitoring.impact import latest_outcomes, serving_period
from govflow.governance.registry.versions import os_user
from govflow.governance.trail.decisions import favourable_of

FUTURE_SLACK = timedelta(minutes=5)
NEEDS_TEXT = "{what} is empty: give {how}"
WRONG_AUTHORITY = ("the response plan of incident {id} names '{named}' as the market surveillance authority, not "
                   "'{given}': send the report there (--to \"{named}\"), or record the changed plan first "
                   "(`govflow run incident -c govflow.yaml --incident {id}` records the plan in the config)")
NOT_NOTIFIED = ("incident {id} has no report recorded as sent: record it first with "
                "`govflow incident notify {id} --to AUTHORITY --reference REF`")
UNKNOWN_ACTION = "incident {id} has no remediation action {number}; `govflow incident show {id}` lists them"
ACTION_DONE = "remediation action {number} of incident {id} was completed at {at} by {by}"


def _text(value: str, what: str, how: str) -> str:
    if not value or not value.strip():
        raise InputError(NEEDS_TEXT.format(what=what, how=how))
    return value.strip()


def parse_moment(text: str | None, option: str) -> datetime | None:
    """An RFC 3339 time with a zone (``Z`` allowed), or None when not given."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{option} '{text}': write an RFC 3339 time, e.g. 2026-03-01T09:00:00Z") from None
    if moment.tzinfo is None:
        raise InputError(f"{option} '{text}': give the time zone, e.g. 2026-03-01T09:00:00Z")
    return moment


def _moment(given: datetime | None, option: str, view: incidents.IncidentView) -> datetime:
    moment = given or canon.utc_now()
    if moment.tzinfo is None:
        raise InputError(f"{option}: give the time zone, e.g. 2026-03-01T09:00:00Z")
    if moment > canon.utc_now() + FUTURE_SLACK:
        raise InputError(f"{option} {canon.format_ts(moment)} is in the future: record what happened, when it happened")
    if moment < view.aware_at:
        raise InputError(f"{option} {canon.format_ts(moment)} is before the provider became aware of incident "
                         f"{view.id} ({canon.format_ts(view.aware_at)})")
    return moment


def _latest_notice(view: incidents.IncidentView) -> dict[str, str] | None:
    """The drafted notice (Markdown) of the latest `documents_drafted` event: what was sent."""
    drafted = view.event("documents_drafted")
    if drafted is None:
        return None
    details = drafted["details"]
    for name, sha in zip(details.get("documents", []), details.get("content_hashes", [])):
        if name.startswith("incident-notice") and name.endswith(".md"):
            return {"name": name, "sha256": sha}
    return None


def notify(ledger: Ledger, incident_id: str, *, to: str, reference: str, sent_at: datetime | None = None,
           by: str | None = None) -> dict[str, Any]:
    """Record that the Art. 73 report was sent to the authority ``to`` under ``reference``."""
    to = _text(to, "--to", "the market surveillance authority the report was sent to")
    reference = _text(reference, "--reference", "the reference of the report (the authority's case or submission number)")
    with ledger.write("incident.notified", incident_id) as w:
        view = incidents.get(w.conn, incident_id)
        named = (view.plan.authority or {}).get("name")
        if named and named.strip().lower() != to.lower():
            raise InputError(WRONG_AUTHORITY.format(id=incident_id, named=named, given=to))
        moment = _moment(sent_at, "--sent-at", view)
        on_time = moment <= view.report_due_at
        details = {"to": to, "reference": reference, "sent_at": canon.format_ts(moment),
                   "report_due_at": canon.format_ts(view.report_due_at), "on_time": on_time,
                   "notice": _latest_notice(view), "os_user": os_user(), "legal_basis": view.legal_basis}
        if not on_time:
            details["late_by_hours"] = round((moment - view.report_due_at).total_seconds() / 3600, 1)
        incidents.add_event(w, incident_id, "notified", by or os_user(), details)
    return details


def acknowledge(ledger: Ledger, incident_id: str, *, reference: str, at: datetime | None = None,
                by: str | None = None) -> dict[str, Any]:
    """Record the authority's acknowledgement of the report (refused before a report is recorded as sent)."""
    reference = _text(reference, "--reference", "the reference the authority acknowledged the report under")
    with ledger.write("incident.acknowledged", incident_id) as w:
        view = incidents.get(w.conn, incident_id)
        sent = view.notification
        if sent is None:
            raise ComplianceBlocked(NOT_NOTIFIED.format(id=incident_id))
        moment = _moment(at, "--at", view)
        details = {"reference": reference, "acknowledged_at": canon.format_ts(moment),
                   "report_reference": sent["details"]["reference"], "authority": sent["details"]["to"]}
        incidents.add_event(w, incident_id, "acknowledged", by or os_user(), details)
    return details


def judge(ledger: Ledger, incident_id: str, *, reportable: bool, approver: str, reason: str) -> dict[str, Any]:
    """Record a person's judgement that the incident is (or is not) a reportable serious incident."""
    approver = _text(approver, "--as", "your name")
    reason = _text(reason, "--reason", "why it is (or is not) a serious incident under Art. 3(49)")
    details = {"reportable": reportable, "rationale": reason, "os_user": os_user()}
    incidents.record_event(ledger, incident_id, "judged", approver, details)
    return details


# -- remediation -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class RemediationAction:
    number: int
    action: str
    owner: str
    due: date
    planned_by: str
    done_at: datetime | None
    done_by: str | None
    note: str | None

    def state(self, today: date) -> str:
        if self.done_at is not None:
            return "done"
        return "overdue" if today > self.due else "open"

    def to_dict(self, today: date) -> dict[str, Any]:
        return {"number": self.number, "action": self.action, "owner": self.owner, "due": self.due.isoformat(),
                "planned_by": self.planned_by, "state": self.state(today), "note": self.note, "done_by": self.done_by,
                "done_at": None if self.done_at is None else canon.format_ts(self.done_at)}


def remediation(view: incidents.IncidentView) -> list[RemediationAction]:
    """The remediation timeline of an incident, in the order the actions were planned."""
    done = {e["details"]["number"]: e for e in view.events if e["action"] == "remediation_done"}
    actions = []
    for e in view.events:
        if e["action"] != "remediation_planned":
            continue
        d = e["details"]
        finished = done.get(d["number"])
        actions.append(RemediationAction(
            number=d["number"], action=d["action"], owner=d["owner"], due=date.fromisoformat(d["due"]),
            planned_by=e["by"], done_at=finished["at"] if finished else None, done_by=finished["by"] if finished else None,
            note=finished["details"].get("note") if finished else None))
    return actions


def plan_action(ledger: Ledger, incident_id: str, *, action: str, owner: str, due: str, by: str | None = None) -> int:
    """Add a dated remediation action with its owner; returns its number (1, 2, ...)."""
    action = _text(action, "--action", "what will be done")
    owner = _text(owner, "--owner", "the person responsible for it")
    try:
        when = date.fromisoformat(due.strip())
    except ValueError:
        raise InputError(f"--due '{due}': write a date, e.g. 2026-04-30") from None
    with ledger.write("incident.remediation", incident_id) as w:
        view = incidents.get(w.conn, incident_id)
        if view.state == "closed":
            raise ComplianceBlocked(f"incident {incident_id} is closed; plan further work on a new incident")
        number = len(remediation(view)) + 1
        incidents.add_event(w, incident_id, "remediation_planned", by or os_user(),
                            {"number": number, "action": action, "owner": owner, "due": when.isoformat()})
    return number


def complete_action(ledger: Ledger, incident_id: str, number: int, *, by: str, note: str = "") -> None:
    """Record that remediation action ``number`` is done (once)."""
    by = _text(by, "--as", "your name")
    with ledger.write("incident.remediation", incident_id) as w:
        view = incidents.get(w.conn, incident_id)
        found = next((a for a in remediation(view) if a.number == number), None)
        if found is None:
            raise InputError(UNKNOWN_ACTION.format(id=incident_id, number=number))
        if found.done_at is not None:
            raise ComplianceBlocked(ACTION_DONE.format(number=number, id=incident_id, at=canon.format_ts(found.done_at),
                                                       by=found.done_by))
        incidents.add_event(w, incident_id, "remediation_done", by, {"number": number, "note": note.strip() or None})


# -- the affected decisions ----------------------------------------------------------------------

def window(conn: Connection, view: incidents.IncidentView) -> tuple[datetime | None, datetime | None, str]:
    """The alert's window when the monitor opened the incident, else the whole time the version served."""
    opened = view.event("opened") or {}
    found = (opened.get("details") or {}).get("window")
    if found:
        return (datetime.fromisoformat(found["start"].replace("Z", "+00:00")),
                datetime.fromisoformat(found["end"].replace("Z", "+00:00")), "the alert's window")
    if view.model_version_id is None:
        return None, None, "no implicated version"
    first, last = serving_period(conn, view.model_version_id)
    return first, (last + timedelta(microseconds=1)) if last else None, "the whole time it served"


def _favourable(output: Any) -> bool | None:
    return favourable_of(output)  # either logged shape (govflow.governance.trail.decisions)


def affected(conn: Connection, view: incidents.IncidentView) -> tuple[list[dict[str, Any]], str]:
    """One row per decision of the implicated version in the window, unfavourable ones first; and the scope."""
    if view.model_version_id is None:
        return [], "no implicated version"
    start, end, scope = window(conn, view)
    query = (select(Prediction.id, Prediction.request_id, Prediction.served_at, Prediction.output_json,
                    PredictionPayload.sensitive_json)
             .outerjoin(PredictionPayload, PredictionPayload.payload_hash == Prediction.payload_hash)
             .where(Prediction.model_version_id == view.model_version_id).order_by(Prediction.served_at, Prediction.id))
    if start is not None:
        query = query.where(Prediction.served_at >= start)
    if end is not None:
        query = query.where(Prediction.served_at < end)
    rows = conn.execute(query).all()
    outcomes = latest_outcomes(conn, [r[0] for r in rows])
    found = []
    for pid, request_id, served_at, output_json, sensitive_json in rows:
        output = json.loads(output_json)
        favourable = _favourable(output)
        found.append({
            "prediction_id": pid, "request_id": request_id, "served_at": canon.format_ts(served_at),
            "version": view.version, "decision": output.get("decision") if isinstance(output, dict) else None,
            "favourable": favourable, "score": output.get("score") if isinstance(output, dict) else None,
            "groups": None if sensitive_json is None else json.loads(sensitive_json), "outcome": outcomes.get(pid),
            "review": "unfavourable decision: review it individually" if favourable is False
            else "favourable decision: check it was warranted"})
    found.sort(key=lambda r: (r["favourable"] is not False, r["served_at"], r["prediction_id"]))
    return found, scope
