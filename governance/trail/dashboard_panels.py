"""The dashboard's panels beyond decision rates, read from the ledger with SQL aggregates where they grow.

* the **windows monitoring uses** (`monitoring_window`, `grid_anchor`): the version's
  ``monitoring.window`` (default 7d) on the grid `govflow.governance.monitoring.results` cuts,
  anchored at midnight UTC of the system's first logged prediction, so a dashboard window and a
  monitoring window are the same rows;
* **per version** in the period (`version_counts`): predictions served, and those serving flagged
  out of domain (``output.out_of_domain``: an input outside the training range or set, #17), counted in SQL;
* **drift** per feature from the latest monitoring results (`latest_drift`): Evidently's score,
  the test's threshold and verdict, as the monitoring run recorded them;
* **outcomes** (`outcome_rates`): per sensitive group, the true- and false-positive rates of the
  decisions whose outcome was recorded (`govflow outcomes`), with Wilson intervals;
* what a flag can link to: the **monitoring runs** that judged a window (`monitoring_runs`) and the
  **incidents** of the system with the window their alert named (`incident_windows`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, String, func, literal_column, select, type_coerce

from govflow.governance.ledger.column_types import UTCDateTime
from govflow.governance.ledger.schema import CheckResultRow, Outcome, Prediction, PredictionPayload, Run
from govflow.governance.monitoring.incidents import list_incidents
from govflow.governance.monitoring.results import parse_window
from govflow.governance.trail.dashboard_figures import MISSING, OUTSIDE, decision_of, group_labels, wilson

DEFAULT_WINDOW = "7d"  # monitoring.window's default (`govflow.governance.config.MonitoringSection`)
DRIFT_RESULTS = ("column_drift", "drifted_column_share", "prediction_drift", "out_of_domain_share")


def monitoring_window(snapshot: Mapping[str, Any]) -> tuple[timedelta, str]:
    """The window monitoring uses for a version's config snapshot, as a duration and as written."""
    text = str((snapshot.get("monitoring") or {}).get("window") or DEFAULT_WINDOW)
    return parse_window(text), text


def grid_anchor(conn: Connection, system: str) -> datetime | None:
    """Midnight UTC of the system's first logged prediction: where monitoring's window grid starts."""
    first = conn.execute(select(func.min(Prediction.served_at)).where(Prediction.system == system)).scalar()
    if first is None:
        return None
    return first.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _flagged_out_of_domain(conn: Connection) -> Any:
    # The condition of `govflow predictions search --out-of-domain any` (`govflow.governance.trail.search`),
    # so a count here and the predictions its link lists are the same rows. ``json`` not ``jsonb`` on
    # PostgreSQL: a NUL escape in an own service's output must not make the page fail. The key's text
    # first (canonical JSON names it so; no parse): on PostgreSQL it is migration 0008's partial index's
    # predicate, so only the flagged rows are read, and the others are never parsed.
    if conn.dialect.name == "postgresql":
        return literal_column("strpos(predictions.output_json, '\"out_of_domain\":') > 0 "
                              "AND (predictions.output_json::json ->> 'out_of_domain') IS NOT NULL")
    return literal_column("instr(predictions.output_json, '\"out_of_domain\":') > 0 "
                          "AND json_extract(predictions.output_json, '$.out_of_domain') IS NOT NULL")


def version_counts(conn: Connection, system: str, start: datetime, end: datetime,
                   version_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
    """model version id -> (predictions, flagged out of domain) in ``[start, end)``, for the given
    versions of the system: each count a range of the ``(model_version_id, served_at)`` index, the
    flagged ones read alone (see `_flagged_out_of_domain`)."""
    flagged = dict(conn.execute(select(Prediction.model_version_id, func.count())
                                .where(Prediction.system == system, Prediction.served_at >= start,
                                       Prediction.served_at < end, _flagged_out_of_domain(conn))
                                .group_by(Prediction.model_version_id)).all())
    found = {}
    for mv_id in version_ids:
        n = conn.execute(select(func.count()).select_from(Prediction).where(
            Prediction.model_version_id == mv_id, Prediction.served_at >= start, Prediction.served_at < end)).scalar_one()
        if n:
            found[mv_id] = (int(n), int(flagged.get(mv_id, 0)))
    return found


@dataclass(frozen=True)
class DriftRow:
    """One feature's drift in the latest monitored window (``column_drift``, or the share over all features)."""

    name: str  # column_drift | drifted_column_share | prediction_drift | out_of_domain_share
    subject: str  # the feature (or "features", "score", "predictions")
    observed: float | None
    threshold: float | None
    passed: bool | None
    method: str  # the test, e.g. "K-S p_value", "Jensen-Shannon distance"
    drift_when: str  # "score < threshold" for p-values, "score >= threshold" for distances


@dataclass(frozen=True)
class DriftPanel:
    """The drift results of the latest monitoring task that judged one of the system's versions."""

    version: str  # NAME:VERSION judged
    window_start: datetime
    window_end: datetime
    run_id: str  # the monitoring flow run (its root)
    rows: tuple[DriftRow, ...]


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def latest_drift(conn: Connection, labels: Mapping[str, str]) -> DriftPanel | None:
    """The drift results of the most recent monitoring of any of the versions (``labels``: id -> NAME:VERSION)."""
    if not labels:
        return None
    newest = conn.execute(
        select(CheckResultRow.run_id, CheckResultRow.model_version_id, CheckResultRow.details_json)
        .where(CheckResultRow.model_version_id.in_(list(labels)), CheckResultRow.kind == "drift",
               CheckResultRow.name == "drifted_column_share", CheckResultRow.details_json.like('%"window"%'))
        .order_by(CheckResultRow.audit_seq.desc()).limit(1)).first()
    if newest is None:
        return None
    task_run, mv_id, details = newest
    window = json.loads(details)["window"]
    rows = conn.execute(select(CheckResultRow).where(CheckResultRow.run_id == task_run, CheckResultRow.kind == "drift",
                                                     CheckResultRow.name.in_(DRIFT_RESULTS))
                        .order_by(CheckResultRow.audit_seq, CheckResultRow.id)).mappings().all()
    found = []
    for r in rows:
        info = json.loads(r["details_json"])
        observed, threshold = json.loads(r["observed_json"]), json.loads(r["threshold_json"])
        found.append(DriftRow(r["name"], r["subject"], observed if isinstance(observed, int | float) else None,
                              threshold if isinstance(threshold, int | float) else None,
                              None if r["passed"] is None else bool(r["passed"]), str(info.get("method", "")),
                              str(info.get("drift_when", ""))))
    root = conn.execute(select(Run.root_run_id).where(Run.id == task_run)).scalar()
    return DriftPanel(labels[str(mv_id)], _moment(window["start"]), _moment(window["end"]), root or task_run, tuple(found))


@dataclass(frozen=True)
class Judged:
    """A monitoring flow run that judged a window (links from a flag seen in that window)."""

    run_id: str
    start: datetime
    end: datetime
    alerted: bool


def monitoring_runs(conn: Connection, version_ids: Sequence[str], limit: int = 2000) -> list[Judged]:
    """The monitoring runs' judged windows, newest first (the latest ``limit`` results)."""
    if not version_ids:
        return []
    rows = conn.execute(
        select(CheckResultRow.run_id, CheckResultRow.details_json, CheckResultRow.passed, Run.root_run_id)
        .join(Run, Run.id == CheckResultRow.run_id)
        .where(CheckResultRow.model_version_id.in_(list(version_ids)), CheckResultRow.name == "drifted_column_share",
               CheckResultRow.details_json.like('%"window"%'))
        .order_by(CheckResultRow.audit_seq.desc()).limit(limit)).all()
    out = []
    for run_id, details, passed, root in rows:
        window = json.loads(details)["window"]
        out.append(Judged(root or run_id, _moment(window["start"]), _moment(window["end"]), passed == 0))
    return out


@dataclass(frozen=True)
class IncidentWindow:
    id: str
    kind: str
    state: str  # open | closed
    version: str | None
    start: datetime | None  # the window its alert named, if any
    end: datetime | None


def incident_windows(conn: Connection, system: str) -> list[IncidentWindow]:
    """The system's incidents, each with the window of the alert that opened it (None: opened by hand)."""
    out = []
    for incident in list_incidents(conn, system):
        window = next((e["details"]["window"] for e in incident.events
                       if isinstance(e["details"].get("window"), Mapping)), None)
        start = _moment(window["start"]) if window and window.get("start") else None
        end = _moment(window["end"]) if window and window.get("end") else None
        out.append(IncidentWindow(incident.id, incident.kind.value, incident.state, incident.version, start, end))
    return out


@dataclass(frozen=True)
class OutcomeRate:
    """Decisions of one group whose outcome is known: the confusion counts and the rates from them."""

    attribute: str  # "" for everyone
    group: str  # "all" for everyone
    tp: int
    fn: int
    fp: int
    tn: int

    @property
    def positives(self) -> int:
        return self.tp + self.fn

    @property
    def negatives(self) -> int:
        return self.fp + self.tn

    @property
    def tpr(self) -> float | None:
        return self.tp / self.positives if self.positives else None

    @property
    def fpr(self) -> float | None:
        return self.fp / self.negatives if self.negatives else None

    def tpr_interval(self, confidence: float = 0.95) -> tuple[float, float]:
        return wilson(self.tp, self.positives, confidence)

    def fpr_interval(self, confidence: float = 0.95) -> tuple[float, float]:
        return wilson(self.fp, self.negatives, confidence)


def _favourable(label: Any, positive_label: Any) -> int:
    if positive_label is None:
        return int(label in (1, True) or str(label).strip().lower() in ("1", "true"))
    return int(label == positive_label or str(label) == str(positive_label))


def outcome_rates(conn: Connection, system: str, start: datetime, end: datetime, *, positive_label: Any,
                  spec: Mapping[str, Sequence[float] | None]) -> list[OutcomeRate]:
    """TPR and FPR per sensitive group over the period's decisions that have an outcome (the latest one)."""
    system_of: Any = Prediction.system
    served_at: Any = Prediction.served_at
    if conn.dialect.name == "sqlite":
        # SQLite's planner (no statistics) walked the period's predictions by the time index and probed
        # outcomes for each: a pass over the log (1.6 s at 5 million, with no outcome at all). The unary
        # + keeps both conditions off the indexes, so it reads the outcomes and finds each prediction by its key.
        system_of = type_coerce(literal_column("+predictions.system"), String)
        served_at = type_coerce(literal_column("+predictions.served_at"), UTCDateTime)
    rows = conn.execute(
        select(Outcome.prediction_id, Outcome.outcome_json, Prediction.output_json, PredictionPayload.sensitive_json)
        .join(Prediction, Prediction.id == Outcome.prediction_id)
        .outerjoin(PredictionPayload, PredictionPayload.payload_hash == Prediction.payload_hash)
        .where(system_of == system, served_at >= start, served_at < end)
        .order_by(Outcome.audit_seq)).all()
    latest = {pid: (outcome, output, sensitive) for pid, outcome, output, sensitive in rows}
    cells: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for outcome_json, output_json, sensitive_json in latest.values():
        decision = decision_of(json.loads(output_json), positive_label)
        if decision is None:
            continue
        truth = _favourable(json.loads(outcome_json).get("label"), positive_label)
        index = {(1, 1): 0, (1, 0): 1, (0, 1): 2, (0, 0): 3}[(truth, decision)]  # tp, fn, fp, tn
        groups = group_labels(json.loads(sensitive_json) if sensitive_json else None, spec)
        for key in [("", "all")] + [(a, g) for a, g in groups.items() if g not in (MISSING, OUTSIDE)]:
            cells[key][index] += 1
    return [OutcomeRate(a, g, *counts) for (a, g), counts in sorted(cells.items())]
