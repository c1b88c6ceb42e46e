"""Recommender anomalies from the logged lists, as monitoring alerts (`govflow.checks.recommendations`).

`check_recommender(ledger, system)` reads the lists the production version served in the last window and
the window before (with each user's sensitive groups, from the payloads still kept), builds the version's
reference (its own lists for every user it was trained on, and the catalogue's popularity order, from
the stored model itself: the same at any time, since the model never changes) and runs the four checks.
`alert_recommender` opens an incident for the failures (``fundamental_rights`` for an exposure
disparity, ``malfunction`` for the rest), or adds them to the open incident of that version, like any
monitoring alert.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from govflow import canonical as canon
from govflow.checks.recommendations import Bounds, ListWindow, Reference, check_window, reference_of
from govflow.checks.results import CheckResult
from govflow.errors import InputError
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import Prediction, PredictionPayload
from govflow.governance.monitoring import incidents
from govflow.governance.trail.exposure import items_of

NOT_A_RECOMMENDER = "{system}: its version in production is not a recommender; run govflow run monitor for a classifier"


@dataclass(frozen=True)
class RecommenderCheck:
    """The checks of one window of a recommender's production version."""

    system: str
    version: str
    model_version_id: str
    start: datetime
    end: datetime
    results: tuple[CheckResult, ...]
    policy: dict[str, Any] | None = None  #: the policy judged by (`JudgingPolicy.to_dict`; None: bounds given)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.passed is False]


def _band(value: Any, bins: list[float] | None) -> str:
    if bins is None or not isinstance(value, int | float) or isinstance(value, bool):
        return str(value)
    for low, high in zip(bins, bins[1:]):
        if low <= value < high:
            return f"[{low:g}, {high:g})"
    return "out of bins"


def window_lists(ledger: Ledger, model_version_id: str, start: datetime, end: datetime,
                 sensitive: dict[str, list[float] | None]) -> ListWindow:
    """The lists a version served in ``[start, end)`` and its users' groups (those without a kept payload: none)."""
    with ledger.read() as conn:
        rows = conn.execute(select(Prediction.output_json, PredictionPayload.sensitive_json)
                            .join(PredictionPayload, PredictionPayload.payload_hash == Prediction.payload_hash, isouter=True)
                            .where(Prediction.model_version_id == model_version_id, Prediction.served_at >= start,
                                   Prediction.served_at < end, Prediction.audit_seq.isnot(None))).all()
    lists, groups = [], []
    for output_json, sensitive_json in rows:
        items = items_of(json.loads(output_json))
        if items is None:
            continue
        given = json.loads(sensitive_json) if sensitive_json else {}
        lists.append(items)
        groups.append({name: _band(given[name], bins) for name, bins in sensitive.items() if name in given})
    return ListWindow(tuple(lists), tuple(groups))


def version_reference(model: Any, top_n: int) -> Reference:
    """The version's own lists for every user it learned, and its catalogue in popularity order."""
    catalogue = [str(i) for i in model.items]
    ranked = [str(model.items[j]) for j in model.popular]
    popularity = {item: len(ranked) - rank for rank, item in enumerate(ranked)}
    lists = [tuple(model.recommend(user, top_n)[0]) for user in sorted(model.users)]
    return reference_of(lists, catalogue, popularity)


def check_recommender(ledger: Ledger, system: str, *, end: datetime | None = None,
                      window: timedelta = timedelta(days=7), bounds: Bounds | None = None) -> RecommenderCheck:
    """The four checks of the last ``window`` before ``end`` (now), against the window before it; the bounds
    default to the policy in force for the system (``policy.exposure.ratio_min``, ``policy.fairness.min_group_size``
    lists; the ledger record of `govflow.governance.registry.policy_in_force`), else the version's own."""
    from govflow.checks.policy import Policy
    from govflow.flows.recommender_flow import ServedRecommender, gate_policy
    from govflow.flows.serving import load_production
    from govflow.governance.registry.policy_in_force import judging_policy

    served = load_production(ledger, system)
    if not isinstance(served, ServedRecommender):
        raise InputError(NOT_A_RECOMMENDER.format(system=system))
    judged = None
    if bounds is None:
        with ledger.read() as conn:  # nothing in force yet: the version's own config's policy
            found = judging_policy(conn, system) or judging_policy(conn, system, gate_policy(served.config),
                                                                   source=f"the config of {served.version}")
        assert found is not None
        policy = Policy.from_mapping(found.policy)
        bounds = Bounds(ratio_min=policy.exposure.ratio_min, min_lists=policy.fairness.min_group_size)
        judged = found.to_dict()
    end = end or canon.utc_now()
    sensitive = {s.column: s.bins for s in served.config.sensitive()}
    current = window_lists(ledger, served.version.id, end - window, end, sensitive)
    previous = window_lists(ledger, served.version.id, end - 2 * window, end - window, sensitive)
    results = check_window(current, version_reference(served.model, served.config.model.top_n), bounds,
                           previous=previous)
    return RecommenderCheck(system, str(served.version), served.version.id, end - window, end, results, judged)


def alert_recommender(ledger: Ledger, check: RecommenderCheck, *, by: str) -> dict[str, Any] | None:
    """Open (or add to) the incident of the version for the failed checks; None when nothing failed."""
    failures = check.failures
    if not failures:
        return None
    findings = [f"{r.name} ({r.subject}): {r.observed:.3f} vs {r.threshold:.3f}"  # type: ignore[str-format]
                for r in failures]
    details: dict[str, Any] = {"alerts": [r.to_dict() for r in failures],
                               "window": {"start": canon.format_ts(check.start), "end": canon.format_ts(check.end)}}
    if check.policy is not None:
        details["policy"] = {k: check.policy[k] for k in ("policy_hash", "source", "cited", "config_policy_hash", "warning")}
    kind = (incidents.IncidentKind.FUNDAMENTAL_RIGHTS if any(r.name == "exposure_disparity" for r in failures)
            else incidents.IncidentKind.MALFUNCTION)
    with ledger.read() as conn:
        already = [i for i in incidents.list_incidents(conn, check.system, open_only=True)
                   if i.model_version_id == check.model_version_id]
    if already:
        incidents.record_event(ledger, already[-1].id, "alert", by, details)
        return {"incident_id": already[-1].id, "new": False, "findings": findings}
    opened = incidents.open_incident(ledger, system=check.system, kind=kind, by=by, details=details,
                                     model_version_id=check.model_version_id,
                                     summary=f"{check.version}: recommendations anomalous: " + "; ".join(findings))
    return {"incident_id": opened.id, "new": True, "kind": opened.kind.value, "findings": findings}
