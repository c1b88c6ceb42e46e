"""Test scenarios for the dashboard: a system taken to production the registry's way, and logged
predictions with chosen times, decisions and sensitive attributes, written by the serving trail's
batch writer (`govflow.governance.trail.predictions.write_predictions`)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.ids import new_id
from govflow.governance.registry import versions as registry
from govflow.governance.trail.predictions import PredictionRecord, write_predictions
from tests.gate_record import record_completed_gate

SNAPSHOT: dict[str, Any] = {
    "system": {"name": "credit-scoring", "intended_purpose": "Assess creditworthiness", "annex_iii": "5(b)"},
    "data": {"train": "german_credit.csv", "target": "creditability", "positive_label": "good",
             "sensitive_features": ["sex", {"column": "age", "bins": [0, 25, 120]}]},
    "policy": {"fairness": {"disparate_impact_ratio_min": 0.8, "min_group_size": 30}},
}
ROLES = ["model_owner", "risk_officer"]


def register(ledger: Ledger, system: str = "credit-scoring", snapshot: dict[str, Any] | None = None,
             attachments: list[registry.Attachment] | None = None) -> registry.VersionRef:
    """A new candidate version, as training registers one."""
    snap = json.loads(json.dumps(snapshot or SNAPSHOT))
    snap["system"]["name"] = system
    return registry.register_version(
        ledger, system=system, model_data=os.urandom(32), fingerprint=f"fp1:{os.urandom(32).hex()}",
        training_run_id=None, hyperparams={"estimator": "logistic_regression"}, config_snapshot=snap,
        attachments=attachments or [], by="tester")


def to_production(ledger: Ledger, version: registry.VersionRef) -> None:
    """Gate pass, both approvals, promotion: the only way a version reaches production."""
    record_completed_gate(ledger, version)
    for role in ROLES:
        registry.approve(ledger, str(version), approver=f"{role} person", role=role, reason="reviewed",
                         required_roles=ROLES)
    registry.promote(ledger, str(version), by="tester", required_roles=ROLES)


@dataclass(frozen=True)
class Logged:
    served_at: datetime
    output: Any
    sensitive: dict[str, Any] = field(default_factory=dict)
    features: dict[str, Any] = field(default_factory=dict)


def log(ledger: Ledger, version: registry.VersionRef, rows: Iterable[Logged], caller: str = "test") -> int:
    """Log predictions through the serving trail's batch writer (payloads apart, one audit entry).

    Production is not required here, so a test can make a version serve outside its approval."""
    records = [PredictionRecord(request_id=new_id(), system=version.system, model_version_id=version.id,
                                output=row.output, features=row.features, sensitive=row.sensitive,
                                latency_ms=1.0, served_at=row.served_at, caller=caller) for row in rows]
    return write_predictions(ledger, records, require_production=False).written


def decisions(start: datetime, *, days: int, per_day: dict[tuple[str, int], tuple[int, int]],
              collapse: dict[int, dict[tuple[str, int], tuple[int, int]]] | None = None) -> list[Logged]:
    """Deterministic decisions: per day and (sex, age) cell, ``(n, favourable)``; ``collapse``
    replaces the cells of given days (0-based), e.g. to make one group's rate fall."""
    out = []
    for day in range(days):
        cells = {**per_day, **((collapse or {}).get(day, {}))}
        for (sex, age), (n, favourable) in sorted(cells.items()):
            for i in range(n):
                moment = start + timedelta(days=day, minutes=10 + i)
                decision = int(i < favourable)
                out.append(Logged(moment, {"prediction": "good" if decision else "bad", "decision": decision,
                                           "score": 0.8 if decision else 0.2},
                                  sensitive={"sex": sex, "age": age}, features={"amount": 1000 + i}))
    return out


BALANCED = {("female", 22): (40, 24), ("female", 40): (40, 24), ("male", 22): (40, 24), ("male", 40): (40, 24)}


CATALOG = {"items": {"a": {"title": "A", "categories": {"genre": ["Action"]}},
                     "b": {"title": "B", "categories": {"genre": ["Drama"]}},
                     "c": {"title": "C", "categories": {"genre": ["Action", "Drama"]}}}}


def recommender(ledger: Ledger, start: datetime, system: str = "movie-recs") -> registry.VersionRef:
    """A recommender in production with an item catalogue, and 40 logged lists: women get
    ``[a, b]``, men ``[b, c]`` (so exposure differs by gender in a way one can check by hand)."""
    catalog = registry.Attachment("item_catalog", "item_catalog.json", json.dumps(CATALOG).encode(), "application/json")
    snapshot = {"kind": "recommender", "system": {"name": system, "intended_purpose": "Recommend films"},
                "data": {"folder": ".", "sensitive_features": ["gender"]}, "policy": {}}
    version = register(ledger, system, snapshot, attachments=[catalog])
    to_production(ledger, version)
    rows = [Logged(start + timedelta(minutes=i), {"items": ["a", "b"] if i % 2 else ["b", "c"], "cold_start": False},
                   sensitive={"gender": "F" if i % 2 else "M"}, features={"user_id": str(i)}) for i in range(40)]
    log(ledger, version, rows)
    return version
