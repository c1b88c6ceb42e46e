"""The dashboard's figures for one system, read from the prediction trail (`load_dashboard`).

Read-only: nothing here writes to the ledger. The window figures (requests per version, favourable
rates overall and per sensitive group) are read from the hourly sums the batches keep
(`govflow.governance.trail.rollup`) over the whole period, a few rows per hour however many
predictions it had. Where those sums cannot say it (windows shorter than an hour, or a version in the
period binned otherwise than the page), the database sums the rows (`tally_rows`, over the cells of
`govflow.governance.trail.dashboard_sql`), over the period's latest `MAX_ROWS` predictions (a walk of
the time index finds where they start) or every one, and the period's total and per-version counts
come from the indexes. The unapproved-serving flags are counted from the indexes over the time
outside approval. Exposure, which needs each recommended list, reads the latest `EXPOSURE_SAMPLE`
lists, shown as a sample. The flag rules and value objects are pure functions in
`govflow.governance.trail.dashboard_figures` (re-exported here, so ``dashboard_data`` is the one
name callers need).
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
from govflow.governance.trail import dashboard_sql, dashboard_sums
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
    tally_counts,
    tally_rates,
    two_proportion_z,
    wilson,
)
from govflow.governance.trail.dashboard_sums import Tallied
from govflow.governance.trail.dashboard_windows import (
    BAD_DURATION,
    BUCKETS,
    MAX_BUCKETS,
    auto_bucket,
    parse_duration,
    window_of,
)
from govflow.governance.trail.exposure import ExposureReport, exposure_by_group, items_of

__all__ = ["BAD_DURATION", "BUCKETS", "Count", "DashboardData", "Flag", "FlagKind", "MAX_BUCKETS", "MISSING",
           "OUTSIDE", "Rate", "Ratio", "Record", "Rules", "VersionInfo", "approved_intervals",
           "auto_bucket", "bin_label", "decision_of", "fairness_flags", "group_labels", "group_rates",
           "latest_records", "load_dashboard", "load_records", "parse_duration", "rate_ratios", "requests_over_time",
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
    return total, latest_records(conn, system, start, end, max_rows=max_rows, labels=labels,
                                 positive_label=positive_label, spec=spec)


def latest_records(conn: Connection, system: str, start: datetime, end: datetime, *, max_rows: int,
                   labels: Mapping[str, str], positive_label: Any,
                   spec: Mapping[str, Sequence[float] | None]) -> list[Record]:
    """The period's latest ``max_rows`` predictions as records, oldest first (the time index read backwards)."""
    where = [Prediction.system == system, Prediction.served_at >= start, Prediction.served_at < end]
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
    return records


MAX_ROWS = 100_000  # the window figures count the period's latest this many (None: all, a pass over each)
EXPOSURE_SAMPLE = 5_000  # exposure needs each list, not a sum: it reads the period's latest lists, at most this many


def _latest(conn: Connection, system: str, start: datetime, end: datetime, max_rows: int | None) -> datetime | None:
    """Where the period's latest ``max_rows`` predictions start (a walk of at most that many entries of
    the time index); None when the period holds no more than that (or no bound is given)."""
    if max_rows is None:
        return None
    return conn.execute(select(Prediction.served_at).where(Prediction.system == system, Prediction.served_at >= start,
                                                           Prediction.served_at < end)
                        .order_by(Prediction.served_at.desc()).offset(max_rows).limit(1)).scalar()


def _served(found: Sequence[dashboard_sql.Cell]) -> dict[str, tuple[int, int]]:
    served: dict[str, tuple[int, int]] = {}
    for c in found:
        n, ood = served.get(c.version_id, (0, 0))
        served[c.version_id] = (n + c.n, ood + c.out_of_domain)
    return served


def tally(conn: Connection, system: str, start: datetime, end: datetime, size: timedelta, *, labels: Mapping[str, str],
          positive_label: Any, spec: Mapping[str, Sequence[float] | None], max_rows: int | None = None) -> Tallied:
    """Requests and favourable rates per window (of ``size`` from ``start``, on its grid): the whole
    period from the hourly sums (`govflow.governance.trail.rollup`) where they can say it, else summed
    in SQL from the predictions, with ``max_rows`` over the period's latest ``max_rows`` only."""
    summed = dashboard_sums.from_rollup(conn, system, start, end, size, labels=labels, positive_label=positive_label,
                                        spec=spec)
    if summed is not None:
        return summed
    return tally_rows(conn, system, start, end, size, labels=labels, positive_label=positive_label, spec=spec,
                      max_rows=max_rows)


def tally_rows(conn: Connection, system: str, start: datetime, end: datetime, size: timedelta, *,
               labels: Mapping[str, str], positive_label: Any, spec: Mapping[str, Sequence[float] | None],
               max_rows: int | None = None) -> Tallied:
    """`tally` from the predictions themselves (summed in SQL); with ``max_rows``, over the period's
    latest ``max_rows`` predictions only."""
    beyond = _latest(conn, system, start, end, max_rows)
    # Just after the newest row left out: rows at the same instant as it are left out too (the old
    # ORDER BY ... LIMIT kept an arbitrary part of them), so at most ``max_rows`` are counted.
    low = start if beyond is None else beyond + timedelta(microseconds=1)
    found = dashboard_sql.cells(conn, system, start=start, size=size, end=end, low=low,
                                positive_label_given=positive_label is not None)
    loaded = sum(c.n for c in found)
    if beyond is None:
        total, served = loaded, _served(found)
    else:  # the period's own figures, from the indexes (no row read): everything, not only the latest
        where = [Prediction.system == system, Prediction.served_at >= start, Prediction.served_at < end]
        total = int(conn.execute(select(func.count()).select_from(Prediction).where(*where)).scalar_one())
        served = panels.version_counts(conn, system, start, end, list(labels))
    groups: dict[str | None, dict[str, str]] = {}
    for c in found:
        if c.sensitive not in groups:
            groups[c.sensitive] = group_labels(json.loads(c.sensitive) if c.sensitive else None, spec)

    return Tallied(total=total, loaded=loaded,
                   counts=tally_counts((c.window, labels.get(c.version_id, c.version_id), c.n) for c in found),
                   rates=tally_rates((c.window, dashboard_sql.decided(c, positive_label), groups[c.sensitive], c.n)
                                     for c in found),
                   served=served, lists=sum(c.with_items for c in found))


def _exposure(conn: Connection, system: str, start: datetime, end: datetime, tallied: Tallied, *,
              labels: Mapping[str, str], spec: Mapping[str, Sequence[float] | None],
              catalog: Mapping[str, Mapping[str, Sequence[str]]] | None) -> tuple[ExposureReport | None, int]:
    """Exposure by group over the period's latest lists (a sample of at most `EXPOSURE_SAMPLE`), and how many it read."""
    if not tallied.lists:
        return None, 0
    records = latest_records(conn, system, start, end, max_rows=min(EXPOSURE_SAMPLE, tallied.loaded), labels=labels,
                             positive_label=None, spec=spec)
    with_items = [r for r in records if r.items is not None]
    return (exposure_by_group(with_items, catalog=catalog) if with_items else None), len(with_items)


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
                   bucket: timedelta | None = None, max_rows: int | None = MAX_ROWS,
                   catalog: Mapping[str, Mapping[str, Sequence[str]]] | None = None, with_panels: bool = True,
                   **rule_overrides: Any) -> DashboardData:
    """One system's dashboard for the period ``[end - period, end)`` (end defaults to now).

    The windows are monitoring's (the newest version's ``monitoring.window``, 7d by default, on
    monitoring's grid) unless ``bucket`` chooses another size, on the same grid; the period's start
    moves back to the start of its first window, so every window is whole. The policy is the one in
    force for the system (a ledger record, #16); the sensitive-attribute bins, group names and
    positive label are those of its newest version (its config snapshot); ``catalog`` (item ->
    dimension -> categories) adds exposure by item category for recommendation outputs;
    ``with_panels=False`` leaves out drift, outcomes and what flags link to (the index needs none);
    ``max_rows`` bounds the predictions the window figures count (the latest; None: all of them).
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
    tallied = tally(conn, system, start, end, size, labels=labels, positive_label=positive, spec=spec, max_rows=max_rows)
    ratios = rate_ratios(tallied.rates, rules.min_group_size)

    def name(attribute: str, group: str) -> str:
        return group_name(attribute, group, specs)

    flags = _unapproved_flags(conn, system, versions, start, end) + fairness_flags(tallied.rates, ratios, size, rules, name)
    infos = tuple(VersionInfo(labels[v["id"]], v["id"], current_stage(conn, v["id"]), *tallied.served.get(v["id"], (0, 0)))
                  for v in versions)
    exposure, sampled = _exposure(conn, system, start, end, tallied, labels=labels, spec=spec, catalog=catalog)
    extra = Panels(drift=panels.latest_drift(conn, labels),
                   outcomes=tuple(panels.outcome_rates(conn, system, start, end, positive_label=positive, spec=spec)),
                   judged=tuple(panels.monitoring_runs(conn, list(labels))),
                   incidents=tuple(panels.incident_windows(conn, system))) if with_panels else None
    window_text = f"{monitoring_text} (as monitoring)" if bucket is None or bucket == monitoring_size else ""
    return DashboardData(system=system, start=start, end=end, bucket=size, rules=rules, total=tallied.total,
                         loaded=tallied.loaded, versions=infos, counts=tuple(tallied.counts), rates=tuple(tallied.rates),
                         ratios=tuple(ratios), flags=tuple(flags), exposure=exposure, anchor=anchor,
                         window_text=window_text, sensitive_features=specs, panels=extra, exposure_sample=sampled)
