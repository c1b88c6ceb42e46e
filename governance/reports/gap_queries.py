"""The evidence queries of the requirement catalogues: each a small read of the ledger.

A catalogue requirement lists its evidence as items ``{record: KIND, ...}``; every item must hold.
Each item is evaluated against one version (the requirement's ``scope``: ``candidate``, the version
under review; ``production``, the version in production; ``system``, the system as a whole) and
gives an `Outcome`: satisfied (with links to the records: table and id), missing, stale (found, but
too old or below a bound) or not applicable. The record kinds (the whole query language):

===============  =====================================================================================
``artifact``     a stored file of ``kind`` linked to the version (documents the gate writes; plans and
                 registers attached with ``govflow evidence attach``, which later versions inherit)
``check_results`` results of ``check`` (validation | performance | fairness | drift) recorded for the
                 version or by its training flow; ``passed: true``: no critical one failed
``decision``     the version's latest gate decision; ``outcome: pass`` requires it passed
``approvals``    an approval in force from every role the version's policy requires
``policy``       the policy in the version's config snapshot, applied by a gate decision under its hash
``config``       the config key ``key`` (dotted) is set; ``min: N``: and at least N (stale below)
``datasets``     the data set versions the training flow read and wrote (fingerprints); ``origin: true``:
                 and the data's provenance (``data.origin``) declared
``run_log``      the training (and gate) runs recorded with their final states
``predictions``  predictions of the version logged
``monitoring_run`` a completed monitoring flow run about the version
``stages``       the version's stage history
``model_version`` the version's registration row
``classification`` the risk classification recorded by this gap run; ``consistent: true``: no finding
``incidents``    every reportable incident of the system reported (sent, not drafted) within its Art. 73
                 deadline (`gap_incidents`; none: not applicable)
===============  =====================================================================================

Freshness (``fresh:`` on an item): ``{after: decision}`` the record is newer than the version's latest
gate decision (documentation kept up to date); ``{before: first_prediction}`` made before the system's
first logged decision (an assessment due before first use); ``{max_age_days: N}``; ``{within: monitoring_schedule}``
no older than the longest gap between two runs of ``monitoring.schedule`` plus a tenth (at least an hour).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, false, func, or_, select

from govflow import canonical as canon
from govflow.governance.ledger.chained import chained
from govflow.governance.ledger.schema import (
    Artifact,
    CheckResultRow,
    DatasetVersion,
    Decision,
    Edge,
    ModelVersion,
    Prediction,
    Run,
    RunState,
    StageChange,
)
from govflow.governance.registry.versions import VersionRef, approvals_in_force, latest_decision
from govflow.governance.reports.classification import Classification
from govflow.governance.reports.gap_incidents import incidents_reported

MONITOR_FLOWS = ("monitor", "monitoring")
MAX_LINKS = 200


class Status(StrEnum):
    SATISFIED = "satisfied"
    STALE = "stale"
    MISSING = "missing"
    NOT_APPLICABLE = "not_applicable"


@dataclass(frozen=True)
class Link:
    """A ledger record that is evidence: ``table/id`` and what it is."""

    table: str
    id: str
    note: str = ""

    def __str__(self) -> str:
        return f"{self.table}/{self.id}"


@dataclass(frozen=True)
class Outcome:
    status: Status
    detail: str
    links: tuple[Link, ...] = ()


@dataclass
class Subject:
    """What one gap analysis is about: the system, its config in force, its versions, the clock."""

    system: str
    config: Mapping[str, Any]  #: the config in force (the -c file), as a plain mapping
    candidate: VersionRef | None  #: the version under review
    production: VersionRef | None
    now: datetime
    classification: Classification
    classification_ids: dict[str, str] = field(default_factory=dict)  #: ids of its rows, once recorded
    last_served: VersionRef | None = None  #: the version of the latest logged decision (operation obligations stay)
    #: the kinds people attach, from the catalogues' ``evidence_kinds``: a later version inherits them
    attachable: frozenset[str] = frozenset()
    _cache: dict[Any, Any] = field(default_factory=dict)


def dotted(mapping: Mapping[str, Any], key: str) -> Any:
    value: Any = mapping
    for part in key.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _snapshot(conn: Connection, s: Subject, v: VersionRef) -> dict[str, Any]:
    key = ("snapshot", v.id)
    if key not in s._cache:
        text = conn.execute(select(ModelVersion.config_snapshot).where(ModelVersion.id == v.id)).scalar_one()
        s._cache[key] = json.loads(text or "{}")
    return s._cache[key]  # type: ignore[no-any-return]


def _training_tree(conn: Connection, s: Subject, v: VersionRef) -> list[str]:
    key = ("tree", v.id)
    if key not in s._cache:
        root = conn.execute(select(ModelVersion.training_run_id).where(ModelVersion.id == v.id)).scalar()
        ids = [] if root is None else list(conn.execute(
            select(Run.id).where(or_(Run.id == root, Run.root_run_id == root))).scalars())
        s._cache[key] = sorted(ids)
    return s._cache[key]  # type: ignore[no-any-return]


def _fresh(s: Subject, conn: Connection, v: VersionRef | None, at: datetime, spec: Mapping[str, Any] | None) -> str | None:
    """None when a record made at ``at`` is fresh enough, else why it is stale."""
    if not spec:
        return None
    if spec.get("after") == "decision" and v is not None:
        decided = latest_decision(conn, v.id)
        if decided is not None and at < decided["decided_at"]:
            return (f"made {canon.format_ts(at)}, before the latest gate decision ({canon.format_ts(decided['decided_at'])}): "
                    "regenerate it")
    if spec.get("before") == "first_prediction":
        first = conn.execute(select(func.min(Prediction.served_at)).join(
            ModelVersion, ModelVersion.id == Prediction.model_version_id).where(ModelVersion.system == s.system)).scalar()
        if first is not None and at > first:
            return (f"made {canon.format_ts(at)}, after the first decision was served ({canon.format_ts(first)}): "
                    "it is due before first use")
    if "max_age_days" in spec and s.now - at > timedelta(days=float(spec["max_age_days"])):
        return f"made {canon.format_ts(at)}, more than {spec['max_age_days']} days ago"
    if spec.get("within") == "monitoring_schedule":
        allowed = monitoring_interval(str(dotted(s.config, "monitoring.schedule") or "0 6 * * *"), s.now)
        if s.now - at > allowed:
            hours = allowed.total_seconds() / 3600
            return f"the latest one ended {canon.format_ts(at)}, longer ago than the schedule allows ({hours:.1f} h)"
    return None


def monitoring_interval(schedule: str, now: datetime) -> timedelta:
    """The longest gap between two of the next 8 runs of a cron schedule, plus a tenth (at least an hour)."""
    from cronsim import CronSim  # a dependency of Prefect, which owns the schedules

    try:
        it = CronSim(schedule, now)
        fires = [next(it) for _ in range(8)]
    except Exception:  # noqa: BLE001 - an invalid schedule is judged as daily; the config check reports it
        return timedelta(days=1, hours=2, minutes=24)
    gap = max(b - a for a, b in zip(fires, fires[1:]))
    return gap + max(gap / 10, timedelta(hours=1))


def last_served(conn: Connection, system: str) -> VersionRef | None:
    """The version that made the system's latest logged decision (None: it never served one)."""
    row = conn.execute(select(ModelVersion.id, ModelVersion.version).join(
        Prediction, Prediction.model_version_id == ModelVersion.id).where(ModelVersion.system == system)
        .order_by(Prediction.served_at.desc()).limit(1)).first()
    return None if row is None else VersionRef(row[0], system, row[1])


def _artifact(conn: Connection, s: Subject, v: VersionRef, q: Mapping[str, Any]) -> Outcome:
    kind = str(q["kind"])
    versions = [(v.id, v.version)]
    if kind in s.attachable:
        versions = [(r[0], r[1]) for r in conn.execute(
            select(ModelVersion.id, ModelVersion.version).where(ModelVersion.system == v.system,
                                                                ModelVersion.version <= v.version)
            .order_by(ModelVersion.version.desc()))]
    for mv_id, number in versions:
        rows = conn.execute(select(Artifact).where(Artifact.model_version_id == mv_id, Artifact.kind == kind)
                            .order_by(Artifact.audit_seq.desc())).mappings().all()
        if not rows:
            continue
        latest = [r for r in rows if r["audit_seq"] == rows[0]["audit_seq"]]
        links = tuple(Link("artifacts", r["id"], f"{kind} {r['name']} sha256 {r['content_hash'][:16]}") for r in latest)
        where = "" if mv_id == v.id else f" (attached to {v.system}:{number}, inherited)"
        stale = _fresh(s, conn, v, min(r["created_at"] for r in latest), q.get("fresh"))
        if stale:
            return Outcome(Status.STALE, f"{kind}{where}: {stale}", links)
        return Outcome(Status.SATISFIED, f"{kind} recorded{where}", links)
    return Outcome(Status.MISSING, f"no {kind} recorded for {v}")


def _check_results(conn: Connection, s: Subject, v: VersionRef, q: Mapping[str, Any]) -> Outcome:
    check = str(q["check"])
    tree = _training_tree(conn, s, v)
    rows = conn.execute(select(CheckResultRow).where(
        CheckResultRow.kind == check,
        or_(CheckResultRow.model_version_id == v.id, CheckResultRow.run_id.in_(tree) if tree else false()))
        .order_by(CheckResultRow.audit_seq, CheckResultRow.id)).mappings().all()
    if not rows:
        return Outcome(Status.MISSING, f"no {check} results recorded for {v}")
    latest_seq = rows[-1]["audit_seq"]
    latest = [r for r in rows if r["audit_seq"] == latest_seq]
    counts = {"passed": sum(r["passed"] == 1 for r in latest), "failed": sum(r["passed"] == 0 for r in latest),
              "not judged": sum(r["passed"] is None for r in latest)}
    summary = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    links = tuple(Link("check_results", r["id"], f"{r['name']} on {r['subject']}: "
                       f"{ {1: 'passed', 0: 'FAILED', None: 'not judged'}[r['passed']] }") for r in latest[:MAX_LINKS])
    if q.get("passed"):
        failed = [r for r in latest if r["passed"] == 0 and r["severity"] == "critical"]
        if failed:
            names = "; ".join(f"{r['name']} on {r['subject']}" for r in failed[:3])
            return Outcome(Status.MISSING, f"{check} failed for {v} ({len(failed)} critical): {names}",
                           tuple(Link("check_results", r["id"], "critical, failed") for r in failed[:MAX_LINKS]))
    stale = _fresh(s, conn, v, _run_started(conn, latest[0]["run_id"]), q.get("fresh"))
    if stale:
        return Outcome(Status.STALE, f"{check}: {stale}", links)
    return Outcome(Status.SATISFIED, f"{len(latest)} {check} results ({summary})", links)


def _run_started(conn: Connection, run_id: str) -> datetime:
    return conn.execute(select(Run.started_at).where(Run.id == run_id)).scalar_one()  # type: ignore[no-any-return]


def _decision(conn: Connection, s: Subject, v: VersionRef, q: Mapping[str, Any]) -> Outcome:
    d = latest_decision(conn, v.id)
    if d is None:
        return Outcome(Status.MISSING, f"{v} has not been through the gate")
    link = Link("decisions", d["id"], f"{d['outcome']} under policy {d['policy_hash'][:12]}")
    wanted = q.get("outcome")
    if wanted and d["outcome"] != wanted:
        reasons = "; ".join(json.loads(d["reasons_json"])[:2])
        return Outcome(Status.MISSING, f"the gate's latest decision for {v} is {d['outcome']}: {reasons}", (link,))
    return Outcome(Status.SATISFIED, f"gate decision {d['outcome']} ({canon.format_ts(d['decided_at'])})", (link,))


def _approvals(conn: Connection, s: Subject, v: VersionRef, q: Mapping[str, Any]) -> Outcome:
    from govflow.governance.reports.evidence import required_roles

    roles = required_roles(_snapshot(conn, s, v).get("policy") or {})
    in_force = approvals_in_force(conn, v.id)
    links, lacking = [], []
    for role in roles:
        given = in_force.get(role)
        if given is not None and given["decision"] == "approve" and given["rationale"].strip():
            links.append(Link("approvals", given["id"], f"{role}: {given['approver']}"))
        elif given is not None:
            lacking.append(f"{role} ({given['decision']}ed by {given['approver']})")
            links.append(Link("approvals", given["id"], f"{role}: {given['decision']}"))
        else:
            lacking.append(role)
    if lacking:
        return Outcome(Status.MISSING, f"no approval in force for {v} from: {', '.join(lacking)}", tuple(links))
    return Outcome(Status.SATISFIED, f"approved by every required role ({', '.join(roles)})", tuple(links))


def _policy(conn: Connection, s: Subject, v: VersionRef, q: Mapping[str, Any]) -> Outcome:
    from govflow.checks.policy import Policy

    policy_hash = Policy.from_mapping(_snapshot(conn, s, v).get("policy") or {}).hash()
    decided = conn.execute(select(Decision).where(Decision.model_version_id == v.id, Decision.policy_hash == policy_hash, chained(Decision))
                           .order_by(Decision.audit_seq.desc()).limit(1)).mappings().first()
    mv = Link("model_versions", v.id, f"config_snapshot.policy, hash {policy_hash[:12]}")
    if decided is None:
        return Outcome(Status.SATISFIED, f"policy {policy_hash[:12]} in the version's config (not yet applied by a gate)", (mv,))
    return Outcome(Status.SATISFIED, f"policy {policy_hash[:12]} applied by the gate",
                   (mv, Link("decisions", decided["id"], f"{decided['outcome']} under this policy")))


def _config(conn: Connection, s: Subject, v: VersionRef | None, q: Mapping[str, Any]) -> Outcome:
    key = str(q["key"])
    source = s.config if v is None else _snapshot(conn, s, v)
    where = Link("config", "govflow.yaml", key) if v is None else Link("model_versions", v.id, f"config_snapshot.{key}")
    value = dotted(source, key)
    if value is None or value == "" or value == []:
        return Outcome(Status.MISSING, f"{key} is not set")
    if "min" in q and isinstance(value, int | float) and value < q["min"]:
        return Outcome(Status.STALE, f"{key} = {value}, below {q['min']}", (where,))
    return Outcome(Status.SATISFIED, f"{key} = {value}", (Link(where.table, where.id, f"{where.note} = {value}"),))


def _datasets(conn: Connection, s: Subject, v: VersionRef, q: Mapping[str, Any]) -> Outcome:
    tree = _training_tree(conn, s, v)
    ids = sorted({str(i) for i in conn.execute(select(Edge.entity_id).where(
        Edge.run_id.in_(tree), Edge.entity_kind == "dataset", Edge.entity_id.is_not(None))).scalars()}) if tree else []
    if not ids:
        return Outcome(Status.MISSING, f"no data set versions recorded for the training of {v}")
    rows = conn.execute(select(DatasetVersion).where(DatasetVersion.id.in_(ids)).order_by(DatasetVersion.audit_seq)).mappings().all()
    links = tuple(Link("dataset_versions", r["id"], f"{r['name']} {r['fingerprint'][:20]} ({r['row_count']} rows)") for r in rows)
    if q.get("origin") and not dotted(_snapshot(conn, s, v), "data.origin"):
        return Outcome(Status.MISSING, f"{len(rows)} data set versions fingerprinted, but data.origin is not declared", links)
    return Outcome(Status.SATISFIED, f"{len(rows)} data set versions fingerprinted", links)


def _run_log(conn: Connection, s: Subject, v: VersionRef, q: Mapping[str, Any]) -> Outcome:
    tree = _training_tree(conn, s, v)
    if not tree:
        return Outcome(Status.MISSING, f"the training of {v} was not recorded")
    ended = conn.execute(select(RunState.run_id, RunState.state, RunState.id).where(
        RunState.run_id.in_(tree), RunState.state != "running")).all()
    root = conn.execute(select(ModelVersion.training_run_id).where(ModelVersion.id == v.id)).scalar_one()
    links = [Link("runs", str(root), f"training flow, {len(tree)} runs, {len(ended)} ended states")]
    decided = latest_decision(conn, v.id)
    if decided is not None and decided["run_id"]:
        gate_root = conn.execute(select(func.coalesce(Run.root_run_id, Run.id)).where(Run.id == decided["run_id"])).scalar()
        if gate_root:
            links.append(Link("runs", gate_root, "gate flow"))
    return Outcome(Status.SATISFIED, f"training recorded: {len(tree)} runs, each hash-chained", tuple(links))


def _predictions(conn: Connection, s: Subject, v: VersionRef, q: Mapping[str, Any]) -> Outcome:
    count, latest = conn.execute(select(func.count(), func.max(Prediction.id)).where(Prediction.model_version_id == v.id)).one()
    if not count:
        return Outcome(Status.MISSING, f"no prediction of {v} logged")
    return Outcome(Status.SATISFIED, f"{count} predictions of {v} logged", (Link("predictions", latest, "the latest"),))


def _monitoring_run(conn: Connection, s: Subject, v: VersionRef, q: Mapping[str, Any]) -> Outcome:
    fingerprint = conn.execute(select(ModelVersion.fingerprint).where(ModelVersion.id == v.id)).scalar_one()
    flows = conn.execute(select(Run.id, Run.started_at).where(Run.kind == "flow", Run.name.in_(MONITOR_FLOWS))
                         .order_by(Run.started_at.desc())).all()
    for run_id, _started in flows:
        tree = list(conn.execute(select(Run.id).where(or_(Run.id == run_id, Run.root_run_id == run_id))).scalars())
        about = conn.execute(select(func.count()).select_from(CheckResultRow).where(
            CheckResultRow.run_id.in_(tree), CheckResultRow.model_version_id == v.id)).scalar_one() or \
            conn.execute(select(func.count()).select_from(Edge).where(Edge.run_id.in_(tree), Edge.fingerprint == fingerprint)).scalar_one()
        if not about:
            continue
        state = conn.execute(select(RunState.state, RunState.at).where(RunState.run_id == run_id)
                             .order_by(RunState.audit_seq.desc(), RunState.at.desc()).limit(1)).first()
        if state is None or state[0] != "completed":
            continue
        link = Link("runs", run_id, f"monitoring run, ended {canon.format_ts(state[1])}")
        stale = _fresh(s, conn, v, state[1], q.get("fresh"))
        if stale:
            return Outcome(Status.STALE, f"monitoring of {v}: {stale}", (link,))
        return Outcome(Status.SATISFIED, f"monitoring of {v} ran {canon.format_ts(state[1])}", (link,))
    return Outcome(Status.MISSING, f"no completed monitoring run about {v}")


def _stages(conn: Connection, s: Subject, v: VersionRef, q: Mapping[str, Any]) -> Outcome:
    rows = conn.execute(select(StageChange.id, StageChange.stage).where(StageChange.model_version_id == v.id, chained(StageChange))
                        .order_by(StageChange.audit_seq)).all()
    if not rows:
        return Outcome(Status.MISSING, f"no stage history for {v}")
    return Outcome(Status.SATISFIED, " -> ".join(r[1] for r in rows), tuple(Link("stage_changes", r[0], r[1]) for r in rows))


def _model_version(conn: Connection, s: Subject, v: VersionRef, q: Mapping[str, Any]) -> Outcome:
    return Outcome(Status.SATISFIED, f"{v} registered", (Link("model_versions", v.id, str(v)),))


def _classification(conn: Connection, s: Subject, v: VersionRef | None, q: Mapping[str, Any]) -> Outcome:
    c = s.classification
    links = tuple(Link(t, s.classification_ids[k], note) for k, t, note in (
        ("check_result_id", "check_results", "annex_iii_consistency"), ("artifact_id", "artifacts", "risk_classification"))
        if k in s.classification_ids)
    if q.get("consistent") and not c.consistent:
        return Outcome(Status.MISSING, "; ".join(f.message for f in c.findings if f.severity in ("critical", "high")), links)
    return Outcome(Status.SATISFIED, c.label, links)


def _incidents(conn: Connection, s: Subject, v: VersionRef | None, q: Mapping[str, Any]) -> Outcome:
    status, detail, links = incidents_reported(conn, s.system)
    return Outcome(Status(status), detail, tuple(Link(*link) for link in links))


VersionQuery = Callable[[Connection, Subject, VersionRef, Mapping[str, Any]], Outcome]
SystemQuery = Callable[[Connection, Subject, "VersionRef | None", Mapping[str, Any]], Outcome]
VERSION_QUERIES: dict[str, VersionQuery] = {
    "artifact": _artifact, "check_results": _check_results, "decision": _decision, "approvals": _approvals,
    "policy": _policy, "datasets": _datasets, "run_log": _run_log, "predictions": _predictions,
    "monitoring_run": _monitoring_run, "stages": _stages, "model_version": _model_version,
}
SYSTEM_QUERIES: dict[str, SystemQuery] = {"config": _config, "classification": _classification, "incidents": _incidents}
RECORD_KINDS = tuple(sorted(VERSION_QUERIES) + sorted(SYSTEM_QUERIES))
