"""Impact of an incident: the decisions one version made in a window, per sensitive group.

Read from the prediction log (`predictions`, their purgeable payloads for the groups, and the latest
outcomes that arrived later). Used by the incident flow's impact step and by `affected`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from govflow import canonical as canon
from govflow.governance.ledger.schema import ModelVersion, Outcome, Prediction, PredictionPayload
from govflow.governance.trail.decisions import favourable_of


def version_label(conn: Connection, model_version_id: str | None) -> str | None:
    """NAME:VERSION of a model version id (None when unknown)."""
    if model_version_id is None:
        return None
    row = conn.execute(select(ModelVersion.system, ModelVersion.version).where(ModelVersion.id == model_version_id)).first()
    return f"{row[0]}:{row[1]}" if row else None


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
    """1 favourable, 0 not, None for no decision: either logged shape (`govflow.governance.trail.decisions`)."""
    favourable = favourable_of(json.loads(output_json))
    return None if favourable is None else int(favourable)


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
    return Impact(version=version_label(conn, model_version_id), start=start, end=end, decisions=len(rows),
                  favourable=favourable, with_outcome=with_outcome, purged=purged, by_group=tuple(by_group))


def serving_period(conn: Connection, model_version_id: str) -> tuple[datetime | None, datetime | None]:
    """First and last time the version served a logged prediction."""
    row = conn.execute(select(func.min(Prediction.served_at), func.max(Prediction.served_at))
                       .where(Prediction.model_version_id == model_version_id)).one()
    return row[0], row[1]
