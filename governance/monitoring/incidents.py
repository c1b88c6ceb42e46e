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
4. `impact`: how many decisions each sensitive group received from the implicated version in the
   window, favourable or not, and, where outcomes arrived, how many were wrong.
5. Root cause (`govflow.governance.lineage.diff`) and the documents (`govflow.governance.reports.documents.incident_notice`) are
   recorded as events by the incident flow.
6. `close`: only with a named approval (a name and a rationale); unfreezes the system unless another
   open incident still holds it frozen. A suspended version stays suspended: it needs a new version.

Art. 73 deadlines (REGULATIONS.md; check the article text before relying on sub-paragraph numbers):
15 days after awareness by default (73(2)); 2 days for a widespread infringement or a serious and
irreversible disruption of critical infrastructure (Art. 3(49)(b); 73(3)); 10 days in case of a
death (73(4)). An initial, incomplete report is allowed. Whether an event is a *serious* incident
is a human judgement: govflow computes the deadline as if it were, so it is never missed.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from govflow import canonical as canon
from govflow.errors import ComplianceBlocked, InputError
from govflow.governance.ledger.chained import chained
from govflow.governance.ledger.engine import Ledger, Writer
from govflow.governance.ledger.schema import (
    Incident,
    IncidentEvent,
    ModelVersion,
    Outcome,
    Prediction,
    PredictionPayload,
    StageChange,
    SystemState,
)
from govflow.governance.registry import versions as registry
from govflow.governance.registry.gate_runs import why_not_counted

MIN_PREFIX = 8
UNKNOWN_INCIDENT = "no incident with id '{given}'; list them with `govflow incident list`"
AMBIGUOUS_INCIDENT = "incident id prefix '{given}' matches {count} incidents; give more characters"
SHORT_PREFIX = "incident id '{given}' is too short: give the full id or at least {n} characters"
ALREADY_CLOSED = "incident {id} was closed at {at} by {by}; a closed incident stays closed (open a new one)"
NAMED_APPROVAL = "closing an incident needs a named approval: --as NAME and --reason TEXT, both non-empty"
UNKNOWN_KIND = "unknown incident kind '{kind}'; choose one of: {kinds}"
UNKNOWN_SEVERITY = "unknown severity '{severity}'; choose one of: {severities}"


class IncidentKind(enum.StrEnum):
    """What happened, in the terms of EU AI Act Art. 3(49) and Art. 73 (the reporting deadline follows)."""

    DEATH = "death"  #: Art. 3(49)(a), the death of a person: report within 10 days (Art. 73(4))
    HEALTH_HARM = "health_harm"  #: Art. 3(49)(a), serious harm to a person's health: 15 days (73(2))
    CRITICAL_INFRASTRUCTURE = "critical_infrastructure"  #: Art. 3(49)(b), serious and irreversible disruption: 2 days (73(3))
    WIDESPREAD_INFRINGEMENT = "widespread_infringement"  #: a widespread infringement (Art. 3(61)): 2 days (73(3))
    FUNDAMENTAL_RIGHTS = "fundamental_rights"  #: Art. 3(49)(c), infringement of fundamental-rights obligations, e.g. discrimination: 15 days
    PROPERTY_OR_ENVIRONMENT = "property_or_environment"  #: Art. 3(49)(d), serious harm to property or the environment: 15 days
    MALFUNCTION = "malfunction"  #: a malfunction (drift, degraded accuracy) not yet judged serious: 15 days, as if it were


class IncidentSeverity(enum.StrEnum):
    """How urgent the response is (govflow's scale; the deadline comes from the kind)."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


REPORT_DAYS: dict[IncidentKind, int] = {
    IncidentKind.DEATH: 10,
    IncidentKind.HEALTH_HARM: 15,
    IncidentKind.CRITICAL_INFRASTRUCTURE: 2,
    IncidentKind.WIDESPREAD_INFRINGEMENT: 2,
    IncidentKind.FUNDAMENTAL_RIGHTS: 15,
    IncidentKind.PROPERTY_OR_ENVIRONMENT: 15,
    IncidentKind.MALFUNCTION: 15,
}
LEGAL_BASIS: dict[IncidentKind, str] = {
    IncidentKind.DEATH: "EU AI Act Art. 73(4): death of a person, no later than 10 days after awareness",
    IncidentKind.HEALTH_HARM: "EU AI Act Art. 73(2) with Art. 3(49)(a): no later than 15 days after awareness",
    IncidentKind.CRITICAL_INFRASTRUCTURE: "EU AI Act Art. 73(3) with Art. 3(49)(b): no later than 2 days after awareness",
    IncidentKind.WIDESPREAD_INFRINGEMENT: "EU AI Act Art. 73(3), widespread infringement: no later than 2 days after awareness",
    IncidentKind.FUNDAMENTAL_RIGHTS: "EU AI Act Art. 73(2) with Art. 3(49)(c): no later than 15 days after awareness",
    IncidentKind.PROPERTY_OR_ENVIRONMENT: "EU AI Act Art. 73(2) with Art. 3(49)(d): no later than 15 days after awareness",
    IncidentKind.MALFUNCTION: ("EU AI Act Art. 73(2), if judged a serious incident: no later than 15 days after "
                               "awareness (computed as if serious, so the deadline is never missed)"),
}
DEFAULT_SEVERITY: dict[IncidentKind, IncidentSeverity] = {
    IncidentKind.DEATH: IncidentSeverity.CRITICAL,
    IncidentKind.CRITICAL_INFRASTRUCTURE: IncidentSeverity.CRITICAL,
    IncidentKind.WIDESPREAD_INFRINGEMENT: IncidentSeverity.CRITICAL,
    IncidentKind.HEALTH_HARM: IncidentSeverity.HIGH,
    IncidentKind.FUNDAMENTAL_RIGHTS: IncidentSeverity.HIGH,
    IncidentKind.PROPERTY_OR_ENVIRONMENT: IncidentSeverity.MEDIUM,
    IncidentKind.MALFUNCTION: IncidentSeverity.MEDIUM,
}


def parse_kind(kind: str | IncidentKind) -> IncidentKind:
    try:
        return IncidentKind(kind)
    except ValueError:
        raise InputError(UNKNOWN_KIND.format(kind=kind, kinds=", ".join(k.value for k in IncidentKind))) from None


def parse_severity(severity: str | IncidentSeverity) -> IncidentSeverity:
    try:
        return IncidentSeverity(severity)
    except ValueError:
        raise InputError(UNKNOWN_SEVERITY.format(
            severity=severity, severities=", ".join(s.value for s in IncidentSeverity))) from None


def report_due(kind: str | IncidentKind, aware_at: datetime) -> datetime:
    """The Art. 73 deadline: awareness plus the kind's days (`REPORT_DAYS`)."""
    if aware_at.tzinfo is None:
        raise InputError("the time of awareness must carry a time zone, e.g. 2025-03-01T09:00:00+00:00")
    return aware_at + timedelta(days=REPORT_DAYS[parse_kind(kind)])


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

    def event(self, action: str) -> dict[str, Any] | None:
        """The latest event of an action, if any."""
        found = [e for e in self.events if e["action"] == action]
        return found[-1] if found else None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "system": self.system, "model_version_id": self.model_version_id,
                "version": self.version, "kind": self.kind.value, "severity": self.severity.value,
                "aware_at": canon.format_ts(self.aware_at), "report_due_at": canon.format_ts(self.report_due_at),
                "report_days": REPORT_DAYS[self.kind], "legal_basis": self.legal_basis, "summary": self.summary,
                "opened_by_run_id": self.opened_by_run_id, "state": self.state,
                "timeline": [{**e, "at": canon.format_ts(e["at"])} for e in self.events]}


class _Nothing(Exception):
    """Raised inside a write to roll it back when there is nothing to record (no empty audit entry)."""


def _dumps(value: Any) -> str:
    return canon.canonical(value).decode("utf-8")


def add_event(w: Writer, incident_id: str, action: str, by: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """One timeline entry, in the writer's transaction."""
    return w.add(IncidentEvent, incident_id=incident_id, action=action, at=canon.utc_now(), by=by,
                 details_json=_dumps(details or {}))


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


def _label(conn: Connection, model_version_id: str | None) -> str | None:
    if model_version_id is None:
        return None
    row = conn.execute(select(ModelVersion.system, ModelVersion.version).where(ModelVersion.id == model_version_id)).first()
    return f"{row[0]}:{row[1]}" if row else None


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
                  details: dict[str, Any] | None = None) -> IncidentView:
    """Record a new incident and its first timeline entry; the deadline follows from kind and awareness."""
    if not summary.strip():
        raise InputError("an incident needs a summary: say what happened (--reason TEXT)")
    chosen = parse_kind(kind)
    level = parse_severity(severity) if severity else DEFAULT_SEVERITY[chosen]
    aware = aware_at or canon.utc_now()
    due = report_due(chosen, aware)
    with ledger.write("incident.opened", system) as w:
        row = w.add(Incident, system=system, model_version_id=model_version_id, kind=chosen.value,
                    severity=level.value, aware_at=aware, report_due_at=due, summary=summary.strip(),
                    opened_by_run_id=run_id)
        add_event(w, row["id"], "opened", by, {"kind": chosen.value, "severity": level.value,
                                               "legal_basis": LEGAL_BASIS[chosen],
                                               "report_due_at": canon.format_ts(due), **(details or {})})
    with ledger.read() as conn:
        return get(conn, row["id"])


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


def _required_roles(snapshot_json: str) -> list[str]:
    from govflow.checks.policy import Policy

    return list(Policy.from_mapping(json.loads(snapshot_json).get("policy", {})).approvals)


def rollback_target(conn: Connection, system: str, exclude: Iterable[str] = ()) -> RollbackChoice:
    """The last compliant earlier version: was in production before, gate passed, approved, not implicated.

    Versions are tried from the highest number down; the first that qualifies is chosen.
    """
    excluded = set(exclude) | implicated_versions(conn, system)
    skipped: list[tuple[str, str]] = []
    rows = conn.execute(select(ModelVersion.id, ModelVersion.version, ModelVersion.config_snapshot)
                        .where(ModelVersion.system == system, chained(ModelVersion))
                        .order_by(ModelVersion.version.desc())).all()
    for mv_id, number, snapshot in rows:
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
        missing = [r for r in _required_roles(snapshot) if in_force.get(r, {}).get("decision") != "approve"]
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


# -- impact ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Impact:
    """Decisions made by one version in a window, per sensitive group."""

    version: str | None
    start: datetime | None
    end: datetime | None
    decisions: int
    favourable: int
    with_outcome: int
    purged: int  #: decisions whose payload (and so group) was purged
    by_group: tuple[dict[str, Any], ...]  #: {feature, group, decisions, favourable, favourable_rate, with_outcome, false_unfavourable, false_favourable}

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "start": None if self.start is None else canon.format_ts(self.start),
                "end": None if self.end is None else canon.format_ts(self.end), "decisions": self.decisions,
                "favourable": self.favourable, "with_outcome": self.with_outcome, "purged": self.purged,
                "by_group": [dict(r) for r in self.by_group]}


def _decision(output_json: str) -> int | None:
    output = json.loads(output_json)
    if isinstance(output, dict) and isinstance(output.get("decision"), int | bool):
        return int(output["decision"])
    return None


def latest_outcomes(conn: Connection, prediction_ids: list[str]) -> dict[str, Any]:
    """The latest recorded outcome label per prediction id (``outcome_json["label"]``)."""
    found: dict[str, Any] = {}
    for chunk in (prediction_ids[i:i + 900] for i in range(0, len(prediction_ids), 900)):
        for pid, text in conn.execute(select(Outcome.prediction_id, Outcome.outcome_json)
                                      .where(Outcome.prediction_id.in_(chunk)).order_by(Outcome.audit_seq)):
            found[pid] = json.loads(text).get("label")
    return found


def impact(conn: Connection, model_version_id: str, *, start: datetime | None = None, end: datetime | None = None,
           positive_label: Any = 1) -> Impact:
    """Count the version's decisions in ``[start, end)`` per sensitive group (from the payloads)."""
    query = (select(Prediction.id, Prediction.output_json, PredictionPayload.sensitive_json)
             .outerjoin(PredictionPayload, PredictionPayload.payload_hash == Prediction.payload_hash)
             .where(Prediction.model_version_id == model_version_id))
    if start is not None:
        query = query.where(Prediction.served_at >= start)
    if end is not None:
        query = query.where(Prediction.served_at < end)
    rows = conn.execute(query).all()
    outcomes = latest_outcomes(conn, [r[0] for r in rows])
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    favourable = purged = with_outcome = 0
    for pid, output_json, sensitive_json in rows:
        decision = _decision(output_json)
        favourable += decision == 1
        truth = outcomes.get(pid)
        known = truth is not None
        with_outcome += known
        positive = known and str(truth) == str(positive_label)
        if sensitive_json is None:
            purged += 1
            continue
        for feature, value in sorted(json.loads(sensitive_json).items()):
            cell = groups.setdefault((feature, str(value)), {"feature": feature, "group": str(value), "decisions": 0,
                                                             "favourable": 0, "with_outcome": 0,
                                                             "false_unfavourable": 0, "false_favourable": 0})
            cell["decisions"] += 1
            cell["favourable"] += decision == 1
            if known and decision is not None:
                cell["with_outcome"] += 1
                cell["false_unfavourable"] += int(decision == 0 and positive)
                cell["false_favourable"] += int(decision == 1 and not positive)
    by_group = []
    for key in sorted(groups):
        cell = groups[key]
        cell["favourable_rate"] = cell["favourable"] / cell["decisions"] if cell["decisions"] else None
        by_group.append(cell)
    return Impact(version=_label(conn, model_version_id), start=start, end=end, decisions=len(rows),
                  favourable=favourable, with_outcome=with_outcome, purged=purged, by_group=tuple(by_group))


def serving_period(conn: Connection, model_version_id: str) -> tuple[datetime | None, datetime | None]:
    """First and last time the version served a logged prediction."""
    from sqlalchemy import func

    row = conn.execute(select(func.min(Prediction.served_at), func.max(Prediction.served_at))
                       .where(Prediction.model_version_id == model_version_id)).one()
    return row[0], row[1]


# -- closing -----------------------------------------------------------------------------------

def close(ledger: Ledger, incident_id: str, *, approver: str, reason: str, role: str = "risk_officer") -> dict[str, Any]:
    """Close with a named approval; unfreeze the system unless another open incident holds it."""
    if not approver.strip() or not reason.strip():
        raise InputError(NAMED_APPROVAL)
    with ledger.write("incident.closed", incident_id) as w:
        incident = _require_open(w.conn, incident_id)
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
