"""The dashboard's figures for one system, read from the prediction trail (`load_dashboard`).

Read-only: nothing here writes to the ledger. It reads one system's predictions in a period and the
stage and approval history of its versions; the figures themselves and the three flag rules are
pure functions over records in `govflow.governance.trail.dashboard_figures` (re-exported here, so
``dashboard_data`` is the one name callers need).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from govflow.checks.policy import Policy
from govflow.governance.ledger.chained import chained
from govflow.governance.ledger.schema import (
    Approval,
    ModelVersion,
    Prediction,
    PredictionPayload,
    StageChange,
)
from govflow.governance.registry.versions import current_stage
from govflow.governance.trail import dashboard_panels as panels
from govflow.governance.trail.dashboard_figures import (  # re-exported: the dashboard's one entry point
    MISSING,
    OUTSIDE,
    Count,
    DashboardData,
    Flag,
    FlagKind,
    Rate,
    Ratio,
    Record,
    Rules,
    VersionInfo,
    approved_intervals,
    bin_label,
    decision_of,
    fairness_flags,
    group_labels,
    group_name,
    group_rates,
    rate_ratios,
    requests_over_time,
    sensitive_spec,
    two_proportion_z,
    wilson,
)
from govflow.governance.trail.dashboard_windows import (
    BAD_DURATION,
    BUCKETS,
    MAX_BUCKETS,
    auto_bucket,
    parse_duration,
    window_of,
)
from govflow.governance.trail.exposure import exposure_by_group, items_of

__all__ = ["BAD_DURATION", "BUCKETS", "Count", "DashboardData", "Flag", "FlagKind", "MAX_BUCKETS", "MISSING",
           "OUTSIDE", "Rate", "Ratio", "Record", "Rules", "VersionInfo", "approved_intervals",
           "auto_bucket", "bin_label", "decision_of", "fairness_flags", "group_labels", "group_rates",
           "load_dashboard", "load_records", "parse_duration", "rate_ratios", "requests_over_time",
           "sensitive_spec", "systems", "two_proportion_z", "wilson", "window_of"]


# -- reading the ledger ------------------------------------------------------------------------

def systems(conn: Connection) -> list[str]:
    """Every system with a registered version or a logged prediction."""
    names = set(conn.execute(select(ModelVersion.system).distinct()).scalars())
    # One index seek per system (the ``(system, served_at)`` index) instead of a DISTINCT over every
    # prediction: neither backend skips through an index on its own.
    found = conn.execute(select(func.min(Prediction.system))).scalar()
    while found is not None:
        names.add(found)
        found = conn.execute(select(func.min(Prediction.system)).where(Prediction.system > found)).scalar()
    return sorted(names)


def _versions(conn: Connection, system: str) -> list[dict[str, Any]]:
    rows = conn.execute(select(ModelVersion.id, ModelVersion.version, ModelVersion.config_snapshot)
                        .where(ModelVersion.system == system).order_by(ModelVersion.version)).mappings()
    return [dict(r) for r in rows]


def _unapproved_flags(conn: Connection, system: str, versions: list[dict[str, Any]], start: datetime,
                      end: datetime) -> list[Flag]:
    """Rule 3: counted in SQL over every prediction of the period, however many are loaded."""
    flags = []
    for v in versions:
        label = f"{system}:{v['version']}"
        stages = conn.execute(select(StageChange.at, StageChange.stage).where(StageChange.model_version_id == v["id"], chained(StageChange))
                              .order_by(StageChange.audit_seq)).all()
        approvals = conn.execute(select(Approval.decided_at, Approval.role, Approval.decision)
                                 .where(Approval.model_version_id == v["id"], chained(Approval)).order_by(Approval.audit_seq)).all()
        roles = Policy.from_mapping(json.loads(v["config_snapshot"]).get("policy") or {}).approvals
        intervals = approved_intervals([(s[0], s[1]) for s in stages], [(a[0], a[1], a[2]) for a in approvals], roles)
        n, first, last = 0, None, None
        for low, high in outside(intervals, start, end):  # range scans of the (model_version_id, served_at) index
            count, low_at, high_at = conn.execute(
                select(func.count(), func.min(Prediction.served_at), func.max(Prediction.served_at))
                .where(Prediction.model_version_id == v["id"], Prediction.served_at >= low, Prediction.served_at < high)).one()
            if count:
                n, first, last = n + count, first or low_at, high_at
        if n:
            first_s = first.strftime("%Y-%m-%d %H:%M:%S") if first else "?"
            last_s = last.strftime("%Y-%m-%d %H:%M:%S") if last else "?"
            flags.append(Flag(
                FlagKind.UNAPPROVED_SERVING, "critical", label, None, float(n), 0.0,
                f"{label} served {n} prediction(s) while not in production with every required approval "
                f"({', '.join(roles) or 'none required'}) in force, between {first_s} and {last_s} UTC"))
    return flags


def outside(intervals: Sequence[tuple[datetime, datetime | None]], start: datetime,
            end: datetime) -> list[tuple[datetime, datetime]]:
    """The parts of ``[start, end)`` no interval ``[s, e)`` (``e`` None: open-ended) covers, in order."""
    gaps, at = [], start
    for s, e in sorted(intervals, key=lambda i: i[0]):
        if s > at:
            gaps.append((at, min(s, end)))
        if e is None:
            at = end
        elif e > at:
            at = e
        if at >= end:
            break
    if at < end:
        gaps.append((at, end))
    return [(low, high) for low, high in gaps if low < high]


def load_records(conn: Connection, system: str, start: datetime, end: datetime, *, max_rows: int,
                 labels: Mapping[str, str], positive_label: Any,
                 spec: Mapping[str, Sequence[float] | None]) -> tuple[int, list[Record]]:
    """``(total in period, the latest max_rows of them as records)``."""
    where = [Prediction.system == system, Prediction.served_at >= start, Prediction.served_at < end]
    total = int(conn.execute(select(func.count()).select_from(Prediction).where(*where)).scalar_one())
    rows = conn.execute(
        select(Prediction.served_at, Prediction.model_version_id, Prediction.output_json, PredictionPayload.sensitive_json)
        .outerjoin(PredictionPayload, PredictionPayload.payload_hash == Prediction.payload_hash)
        .where(*where).order_by(Prediction.served_at.desc()).limit(max_rows)
    ).all()
    records = []
    # Outputs and attribute sets repeat a lot (a decision, a few groups): each distinct text is read once.
    outputs: dict[str, tuple[int | None, tuple[str, ...] | None]] = {}
    groups: dict[str | None, dict[str, str]] = {}
    for served_at, mv_id, output_json, sensitive_json in rows:
        read = outputs.get(output_json)
        if read is None:
            output = json.loads(output_json)
            read = outputs[output_json] = (decision_of(output, positive_label), items_of(output))
            if len(outputs) > 50_000:
                outputs.clear()
        labelled = groups.get(sensitive_json)
        if labelled is None:
            labelled = groups[sensitive_json] = group_labels(json.loads(sensitive_json) if sensitive_json else None, spec)
        records.append(Record(served_at=served_at, version=labels.get(mv_id, mv_id), decision=read[0],
                              groups=labelled, items=read[1]))
    records.reverse()
    return total, records


def _policy_in_force(conn: Connection, system: str, snapshot: Mapping[str, Any]) -> Mapping[str, Any]:
    """The policy in force for the system (`govflow policy approve`), else the newest version's snapshot's."""
    from govflow.governance.registry.policy_in_force import policy_section_in_force

    return policy_section_in_force(conn, system) or (snapshot.get("policy") or {})


@dataclass(frozen=True)
class Panels:
    """What the page shows beside the decision rates (`govflow.governance.trail.dashboard_panels`)."""

    drift: panels.DriftPanel | None
    outcomes: tuple[panels.OutcomeRate, ...]
    judged: tuple[panels.Judged, ...]  # monitoring runs' windows, newest first
    incidents: tuple[panels.IncidentWindow, ...]


def load_dashboard(conn: Connection, system: str, *, end: datetime | None = None, period: timedelta = timedelta(days=30),
                   bucket: timedelta | None = None, max_rows: int = 100_000,
                   catalog: Mapping[str, Mapping[str, Sequence[str]]] | None = None, with_panels: bool = True,
                   **rule_overrides: Any) -> DashboardData:
    """One system's dashboard for the period ``[end - period, end)`` (end defaults to now).

    The windows are monitoring's (the newest version's ``monitoring.window``, 7d by default, on
    monitoring's grid) unless ``bucket`` chooses another size, on the same grid; the period's start
    moves back to the start of its first window, so every window is whole. The policy is the one in
    force for the system (a ledger record, #16); the sensitive-attribute bins, group names and
    positive label are those of its newest version (its config snapshot); ``catalog`` (item ->
    dimension -> categories) adds exposure by item category for recommendation outputs;
    ``with_panels=False`` leaves out drift, outcomes and what flags link to (the index needs none).
    """
    end = end or datetime.now(UTC)
    versions = _versions(conn, system)
    snapshot = json.loads(versions[-1]["config_snapshot"]) if versions else {}
    monitoring_size, monitoring_text = panels.monitoring_window(snapshot)
    size = bucket or monitoring_size
    anchor = panels.grid_anchor(conn, system)
    start = window_of(end - period, size, anchor)
    rules = Rules.from_policy(Policy.from_mapping(_policy_in_force(conn, system, snapshot)), **rule_overrides)
    labels = {v["id"]: f"{system}:{v['version']}" for v in versions}
    positive = (snapshot.get("data") or {}).get("positive_label")
    spec = sensitive_spec(snapshot)
    specs = tuple((snapshot.get("data") or {}).get("sensitive_features") or ())
    total, records = load_records(conn, system, start, end, max_rows=max_rows, labels=labels,
                                  positive_label=positive, spec=spec)
    counts = requests_over_time(records, size, anchor)
    rates = group_rates(records, size, anchor)
    ratios = rate_ratios(rates, rules.min_group_size)

    def name(attribute: str, group: str) -> str:
        return group_name(attribute, group, specs)

    flags = _unapproved_flags(conn, system, versions, start, end) + fairness_flags(rates, ratios, size, rules, name)
    served = panels.version_counts(conn, system, start, end)
    infos = tuple(VersionInfo(labels[v["id"]], v["id"], current_stage(conn, v["id"]), *served.get(v["id"], (0, 0)))
                  for v in versions)
    with_items = [r for r in records if r.items is not None]
    exposure = exposure_by_group(with_items, catalog=catalog) if with_items else None
    extra = Panels(drift=panels.latest_drift(conn, labels),
                   outcomes=tuple(panels.outcome_rates(conn, system, start, end, positive_label=positive, spec=spec)),
                   judged=tuple(panels.monitoring_runs(conn, list(labels))),
                   incidents=tuple(panels.incident_windows(conn, system))) if with_panels else None
    window_text = f"{monitoring_text} (as monitoring)" if bucket is None or bucket == monitoring_size else ""
    return DashboardData(system=system, start=start, end=end, bucket=size, rules=rules, total=total,
                         loaded=len(records), versions=infos, counts=tuple(counts), rates=tuple(rates),
                         ratios=tuple(ratios), flags=tuple(flags), exposure=exposure, anchor=anchor,
                         window_text=window_text, sensitive_features=specs, panels=extra)
