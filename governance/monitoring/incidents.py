"""Incidents: opened with the EU AI Act Art. 73 reporting deadline, handled by a playbook of ledger operations.

An incident is an ``incidents`` row (what, which system and version, how severe, when the provider
became aware, when the report is due) followed by its timeline, the ``incident_events`` rows: every
action of the playbook appends one, in the same transaction as the state it changes.

The playbook (each step one transaction, one audit entry):

1. `open_incident`: kind (`IncidentKind`), severity, awareness time and the report deadline.
2. `freeze`: a ``system_states`` row ``frozen`` naming the incident. While frozen, `registry.promote`
   refuses every promotion (no retraining release while the incident is open).
3. `suspend_and_roll_back`: the implicated version's stage becomes ``suspended``; if it was serving,
   the last version that (a) was in production before, (b) passed the gate, (c) holds every approval
   its policy requires and (d) is neither suspended nor implicated by an open incident goes back to
   ``production`` (`rollback_target`). Where there is none, serving stops: the system has no version
   in production and ``govflow serve`` answers 503 with the reason.
4. impact (`impact`), root cause (`govflow.governance.lineage.diff`) and the drafts are recorded by the flow.
5. `close`: only with a named approval (a name and a rationale), and for a reportable incident only once
   it was sent; unfreezes the system unless another open incident holds it. A suspended version stays so.

The Art. 73 deadlines and the kinds are in `incident_kinds`; the response plan (who leads, reports
and closes; the authority; which kinds are reportable) in `response_plan`; reporting to the authority,
acknowledgements, the remediation timeline and the affected decisions in `reporting`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from govflow import canonical as canon
from govflow.errors import ComplianceBlocked, InputError
from govflow.governance.ledger.chained import chained
from govflow.governance.ledger.engine import Ledger, Writer
from govflow.governance.ledger.schema import Incident, IncidentEvent, ModelVersion, StageChange, SystemState
from govflow.governance.monitoring.impact import Impact, impact, latest_outcomes, serving_period
from govflow.governance.monitoring.impact import version_label as _label
from govflow.governance.monitoring.incident_kinds import (
    DEFAULT_SEVERITY,
    LEGAL_BASIS,
    REPORT_DAYS,
    UNKNOWN_KIND,
    UNKNOWN_SEVERITY,
    IncidentKind,
    IncidentSeverity,
    parse_kind,
    parse_severity,
    report_due,
)
from govflow.governance.monitoring.response_plan import ResponsePlan
from govflow.governance.registry import versions as registry
from govflow.governance.registry.gate_runs import why_not_counted
from govflow.governance.registry.policies import required_roles

MIN_PREFIX = 8
UNKNOWN_INCIDENT = "no incident with id '{given}'; list them with `govflow incident list`"
AMBIGUOUS_INCIDENT = "incident id prefix '{given}' matches {count} incidents; give more characters"
SHORT_PREFIX = "incident id '{given}' is too short: give the full id or at least {n} characters"
ALREADY_CLOSED = "incident {id} was closed at {at} by {by}; a closed incident stays closed (open a new one)"
NAMED_APPROVAL = "closing an incident needs a named approval: --as NAME and --reason TEXT, both non-empty"
NOT_SENT = ("incident {id} is reportable under EU AI Act Art. 73 ({kind}, report due {due}) and its notification "
            "has not been sent: record the report with `govflow incident notify {id} --to AUTHORITY --reference REF`, "
            "then close it")
WRONG_CLOSE_ROLE = ("the response plan this incident is handled under gives the close to the role {wanted}, not {given}: "
                    "close it with --role {wanted}")

__all__ = ["DEFAULT_SEVERITY", "LEGAL_BASIS", "REPORT_DAYS", "UNKNOWN_KIND", "UNKNOWN_SEVERITY", "Impact",
           "IncidentKind", "IncidentSeverity", "impact", "latest_outcomes", "parse_kind", "parse_severity",
           "report_due", "serving_period"]


@dataclass(frozen=True)
class IncidentView:
    """An incident as recorded, with its derived state and timeline."""

    id: str
    system: str
    model_version_id: str | None
    version: str | None  #: NAME:VERSION of the implicated version, if any
    kind: IncidentKind
    severity: IncidentSeverity
    aware_at: datetime
    report_due_at: datetime
    summary: str
    opened_by_run_id: str | None
    state: str  #: open | closed
    events: tuple[dict[str, Any], ...] = field(default=())  #: the timeline, oldest first

    @property
    def legal_basis(self) -> str:
        return LEGAL_BASIS[self.kind]

    @property
    def plan(self) -> ResponsePlan:
        """The response plan recorded on the timeline (the default plan before one is recorded)."""
        recorded = self.event("response_plan")
        return ResponsePlan.from_recorded(recorded["details"].get("plan") if recorded else None)

    @property
    def reportable(self) -> bool:
        """Art. 73 reporting applies: the latest recorded judgement, else the plan's rule for the kind."""
        judged = [e for e in self.events if "reportable" in e["details"]]
        return bool(judged[-1]["details"]["reportable"]) if judged else self.plan.reportable(self.kind)

    @property
    def notification(self) -> dict[str, Any] | None:
        """The latest recorded report to the authority (action ``notified``), if any."""
        return self.event("notified")

    def event(self, action: str) -> dict[str, Any] | None:
        """The latest event of an action, if any."""
        found = [e for e in self.events if e["action"] == action]
        return found[-1] if found else None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "system": self.system, "model_version_id": self.model_version_id,
                "version": self.version, "kind": self.kind.value, "severity": self.severity.value,
                "aware_at": canon.format_ts(self.aware_at), "report_due_at": canon.format_ts(self.report_due_at),
                "report_days": REPORT_DAYS[self.kind], "legal_basis": self.legal_basis, "summary": self.summary,
                "opened_by_run_id": self.opened_by_run_id, "state": self.state, "reportable": self.reportable,
                "notified": self.notification is not None,
                "timeline": [{**e, "at": canon.format_ts(e["at"])} for e in self.events]}


class _Nothing(Exception):
    """Raised inside a write to roll it back when there is nothing to record (no empty audit entry)."""


def add_event(w: Writer, incident_id: str, action: str, by: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """One timeline entry, in the writer's transaction."""
    return w.add(IncidentEvent, incident_id=incident_id, action=action, at=canon.utc_now(), by=by,
                 details_json=canon.canonical(details or {}).decode("utf-8"))


def record_event(ledger: Ledger, incident_id: str, action: str, by: str,
                 details: dict[str, Any] | None = None) -> dict[str, Any]:
    """Append one timeline entry in its own transaction (e.g. a diff or a document drafted)."""
    with ledger.write(f"incident.{action}", incident_id) as w:
        _require_open(w.conn, incident_id)
        return add_event(w, incident_id, action, by, details)


# -- reading -----------------------------------------------------------------------------------

def resolve(conn: Connection, given: str) -> str:
    """A full incident id from itself or a unique prefix of at least 8 characters."""
    text = given.strip().lower()
    if len(text) < MIN_PREFIX:
        raise InputError(SHORT_PREFIX.format(given=given, n=MIN_PREFIX))
    found = sorted(conn.execute(select(Incident.id).where(Incident.id.startswith(text, autoescape=True), chained(Incident)).limit(3)).scalars())
    if not found:
        raise InputError(UNKNOWN_INCIDENT.format(given=given))
    if len(found) > 1:
        raise InputError(AMBIGUOUS_INCIDENT.format(given=given, count=len(found)))
    return found[0]


def events(conn: Connection, incident_id: str) -> list[dict[str, Any]]:
    """The timeline, oldest first: ``{action, at, by, details}``."""
    rows = conn.execute(select(IncidentEvent).where(IncidentEvent.incident_id == incident_id, chained(IncidentEvent))
                        .order_by(IncidentEvent.audit_seq, IncidentEvent.id)).mappings()
    return [{"action": r["action"], "at": r["at"], "by": r["by"], "details": json.loads(r["details_json"])} for r in rows]


def get(conn: Connection, incident_id: str) -> IncidentView:
    row = conn.execute(select(Incident).where(Incident.id == incident_id, chained(Incident))).mappings().first()
    if row is None:
        raise InputError(UNKNOWN_INCIDENT.format(given=incident_id))
    timeline = events(conn, incident_id)
    state = "closed" if any(e["action"] == "closed" for e in timeline) else "open"
    return IncidentView(id=row["id"], system=row["system"], model_version_id=row["model_version_id"],
                        version=_label(conn, row["model_version_id"]), kind=IncidentKind(row["kind"]),
                        severity=IncidentSeverity(row["severity"]), aware_at=row["aware_at"],
                        report_due_at=row["report_due_at"], summary=row["summary"],
                        opened_by_run_id=row["opened_by_run_id"], state=state, events=tuple(timeline))


def list_incidents(conn: Connection, system: str | None = None, *, open_only: bool = False) -> list[IncidentView]:
    query = select(Incident.id).where(chained(Incident)).order_by(Incident.audit_seq)
    if system is not None:
        query = query.where(Incident.system == system)
    found = [get(conn, i) for i in conn.execute(query).scalars()]
    return [i for i in found if i.state == "open"] if open_only else found


def _require_open(conn: Connection, incident_id: str) -> IncidentView:
    incident = get(conn, incident_id)
    if incident.state == "closed":
        closed = incident.event("closed") or {}
        raise ComplianceBlocked(ALREADY_CLOSED.format(id=incident_id, at=canon.format_ts(closed["at"]),
                                                      by=closed["by"]))
    return incident


# -- the playbook ------------------------------------------------------------------------------

def open_incident(ledger: Ledger, *, system: str, kind: str | IncidentKind, summary: str, by: str,
                  model_version_id: str | None = None, severity: str | IncidentSeverity | None = None,
                  aware_at: datetime | None = None, run_id: str | None = None,
                  details: dict[str, Any] | None = None, plan: ResponsePlan | None = None) -> IncidentView:
    """Record a new incident and its first timeline entry; the deadline follows from kind and awareness.

    With a response ``plan``, the severity defaults to its rule and the plan is recorded on the timeline
    (action ``response_plan``) in the same transaction.
    """
    if not summary.strip():
        raise InputError("an incident needs a summary: say what happened (--reason TEXT)")
    chosen = parse_kind(kind)
    level = parse_severity(severity) if severity else (plan or ResponsePlan()).severity(chosen)
    aware = aware_at or canon.utc_now()
    due = report_due(chosen, aware)
    with ledger.write("incident.opened", system) as w:
        row = w.add(Incident, system=system, model_version_id=model_version_id, kind=chosen.value,
                    severity=level.value, aware_at=aware, report_due_at=due, summary=summary.strip(),
                    opened_by_run_id=run_id)
        add_event(w, row["id"], "opened", by, {"kind": chosen.value, "severity": level.value,
                                               "legal_basis": LEGAL_BASIS[chosen],
                                               "report_due_at": canon.format_ts(due), **(details or {})})
        if plan is not None:
            add_plan_event(w, row["id"], chosen, plan, by)
    with ledger.read() as conn:
        return get(conn, row["id"])


def add_plan_event(w: Writer, incident_id: str, kind: IncidentKind, plan: ResponsePlan, by: str) -> dict[str, Any]:
    """Record the response plan the incident is handled under: duties, who is called, the authority."""
    return add_event(w, incident_id, "response_plan", by, {
        "plan": plan.to_dict(), "reportable": plan.reportable(kind), "called": plan.called(),
        "authority": plan.authority["name"] if plan.authority else None})


def apply_plan(ledger: Ledger, incident_id: str, plan: ResponsePlan, by: str) -> IncidentView:
    """Record ``plan`` on an open incident unless the same plan is already its latest (idempotent)."""
    with ledger.write("incident.response_plan", incident_id) as w:
        incident = _require_open(w.conn, incident_id)
        recorded = incident.event("response_plan")
        if recorded is None or recorded["details"].get("plan") != plan.to_dict():
            add_plan_event(w, incident_id, incident.kind, plan, by)
    with ledger.read() as conn:
        return get(conn, incident_id)


def freeze(ledger: Ledger, incident_id: str, by: str) -> dict[str, Any]:
    """Freeze the incident's system: no promotion while it is open. Idempotent per incident."""
    try:
        with ledger.write("incident.frozen", incident_id) as w:
            incident = _require_open(w.conn, incident_id)
            state, holder = registry.system_state(w.conn, incident.system)
            if state == "frozen" and holder == incident_id:
                raise _Nothing
            w.add(SystemState, system=incident.system, state="frozen", at=canon.utc_now(), by=by,
                  reason=f"incident {incident_id}: {incident.summary}"[:2000], incident_id=incident_id)
            add_event(w, incident_id, "frozen", by, {"system": incident.system, "previous_state": state,
                                                     "previous_incident": holder})
    except _Nothing:
        return {"system": incident.system, "state": "frozen", "already": True}
    return {"system": incident.system, "state": "frozen", "already": False}


@dataclass(frozen=True)
class RollbackChoice:
    """The version serving goes back to (None: stop serving) and why each other version was passed over."""

    target: registry.VersionRef | None
    skipped: tuple[tuple[str, str], ...]  #: (NAME:VERSION, reason)


def implicated_versions(conn: Connection, system: str) -> set[str]:
    """Model version ids implicated by the system's open incidents."""
    return {i.model_version_id for i in list_incidents(conn, system, open_only=True) if i.model_version_id}


def rollback_target(conn: Connection, system: str, exclude: Iterable[str] = ()) -> RollbackChoice:
    """The last compliant earlier version: was in production before, gate passed, approved, not implicated.

    Versions are tried from the highest number down; the first that qualifies is chosen.
    """
    excluded = set(exclude) | implicated_versions(conn, system)
    skipped: list[tuple[str, str]] = []
    rows = conn.execute(select(ModelVersion.id, ModelVersion.version)
                        .where(ModelVersion.system == system, chained(ModelVersion))
                        .order_by(ModelVersion.version.desc())).all()
    for mv_id, number in rows:
        label = f"{system}:{number}"
        if mv_id in excluded:
            skipped.append((label, "implicated by an open incident"))
            continue
        stage = registry.current_stage(conn, mv_id)
        if stage == "suspended":
            skipped.append((label, "suspended"))
            continue
        served_before = conn.execute(select(StageChange.id).where(
            StageChange.model_version_id == mv_id, StageChange.stage == "production", chained(StageChange)).limit(1)).first()
        if served_before is None:
            skipped.append((label, "never in production (a rollback returns to a version that served before)"))
            continue
        decision = registry.latest_decision(conn, mv_id)
        if decision is None or decision["outcome"] != "pass":
            skipped.append((label, "its gate did not pass" if decision else "no gate decision"))
            continue
        problem = why_not_counted(conn, registry.VersionRef(mv_id, system, number), decision)
        if problem:
            skipped.append((label, problem.split("; re-run")[0]))
            continue
        in_force = registry.approvals_in_force(conn, mv_id)
        roles = required_roles(conn, system, mv_id, decision)  # of the policy its gate applied, as promote reads
        missing = [r for r in roles if in_force.get(r, {}).get("decision") != "approve"]
        if missing:
            skipped.append((label, f"not approved by {', '.join(missing)}"))
            continue
        return RollbackChoice(registry.VersionRef(mv_id, system, number), tuple(skipped))
    return RollbackChoice(None, tuple(skipped))


def suspend_and_roll_back(ledger: Ledger, incident_id: str, by: str) -> dict[str, Any]:
    """Suspend the implicated version; if it was serving, roll back or stop serving. One transaction.

    Returns ``{"suspended", "was_serving", "restored", "stopped", "skipped", "already"}``. An
    incident without an implicated version changes no stage; a version already suspended is left as
    it is (the step is idempotent). Rolling back is the playbook's own action: it is allowed while
    the system is frozen (promotion is not).
    """
    with ledger.read() as conn:
        incident = _require_open(conn, incident_id)
        if incident.model_version_id is not None and registry.current_stage(conn, incident.model_version_id) == "suspended":
            return {"suspended": incident.version, "was_serving": False, "restored": None, "stopped": False,
                    "skipped": [], "already": True}
    with ledger.write("incident.rollback", incident_id) as w:
        incident = _require_open(w.conn, incident_id)
        implicated = incident.model_version_id
        if implicated is None:
            add_event(w, incident_id, "no_version_implicated", by, {})
            return {"suspended": None, "was_serving": False, "restored": None, "stopped": False, "skipped": [],
                    "already": False}
        label = incident.version or implicated
        stage = registry.current_stage(w.conn, implicated)
        result: dict[str, Any] = {"suspended": label, "was_serving": stage == "production", "restored": None,
                                  "stopped": False, "skipped": [], "already": False}
        registry.add_stage(w, implicated, "suspended", by, f"implicated by incident {incident_id}")
        add_event(w, incident_id, "suspended", by, {"version": label, "previous_stage": stage})
        if stage != "production":
            return result
        choice = rollback_target(w.conn, incident.system, exclude=[implicated])
        result["skipped"] = [list(s) for s in choice.skipped]
        if choice.target is None:
            add_event(w, incident_id, "serving_stopped", by, {
                "reason": "no earlier version qualifies: serving stops (503) until a compliant version is promoted",
                "skipped": result["skipped"]})
            result["stopped"] = True
            return result
        registry.add_stage(w, choice.target.id, "production", by,
                           f"rollback during incident {incident_id}: last version that served before, passed its "
                           f"gate, is approved and is not implicated")
        add_event(w, incident_id, "rolled_back", by, {"from": label, "to": str(choice.target),
                                                      "skipped": result["skipped"]})
        result["restored"] = str(choice.target)
    return result


# -- closing -----------------------------------------------------------------------------------

def close(ledger: Ledger, incident_id: str, *, approver: str, reason: str, role: str = "risk_officer") -> dict[str, Any]:
    """Close with a named approval; unfreeze the system unless another open incident holds it."""
    if not approver.strip() or not reason.strip():
        raise InputError(NAMED_APPROVAL)
    with ledger.write("incident.closed", incident_id) as w:
        incident = _require_open(w.conn, incident_id)
        if incident.reportable and incident.notification is None:
            raise ComplianceBlocked(NOT_SENT.format(id=incident_id, kind=incident.kind.value,
                                                    due=canon.format_ts(incident.report_due_at)))
        wanted = incident.plan.role_for("close")
        if incident.event("response_plan") is not None and role != wanted:
            raise ComplianceBlocked(WRONG_CLOSE_ROLE.format(wanted=wanted, given=role))
        add_event(w, incident_id, "closed", approver, {"approver": approver, "role": role, "rationale": reason,
                                                       "os_user": registry.os_user()})
        others = [i for i in list_incidents(w.conn, incident.system, open_only=True) if i.id != incident_id]
        state, holder = registry.system_state(w.conn, incident.system)
        unfrozen = False
        if state == "frozen" and holder == incident_id:
            if others:
                w.add(SystemState, system=incident.system, state="frozen", at=canon.utc_now(), by=approver,
                      reason=f"incident {incident_id} closed; still frozen by incident {others[-1].id}",
                      incident_id=others[-1].id)
            else:
                w.add(SystemState, system=incident.system, state="active", at=canon.utc_now(), by=approver,
                      reason=f"incident {incident_id} closed: {reason}"[:2000], incident_id=incident_id)
                unfrozen = True
    return {"incident": incident_id, "system": incident.system, "unfrozen": unfrozen,
            "still_frozen_by": others[-1].id if others and not unfrozen and state == "frozen" else None}
