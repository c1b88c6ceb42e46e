"""Performance: ROC AUC, accuracy, precision, recall and Brier score, overall and by sensitive group.

Overall metrics are judged against the policy's bounds (``policy.performance``) as critical
results; a metric without a bound is still recorded (``severity=info``, ``passed=None``), since the
declared accuracy metrics are evidence in their own right (EU AI Act Art. 15(3)). By group, the same
bounds apply as warnings to groups of at least ``policy.fairness.min_group_size`` rows.

Examples
--------
>>> y = pd.Series([1, 0, 1, 0] * 10, name="employed")
>>> suite = assess_performance(y_true=y, y_score=[0.9, 0.2, 0.7, 0.4] * 10, positive_label=1)
>>> suite.passed, suite.results[0].name, suite.results[0].observed
(True, 'roc_auc', 1.0)
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from govflow.checks.groups import group_labels, parse_features
from govflow.checks.inputs import (
    EMPTY,
    as_series,
    encode_binary,
    require_frame,
    require_not_all_null,
    require_numeric,
    require_same_length,
)
from govflow.checks.policy import PerformancePolicy, Policy
from govflow.checks.results import CheckKind, CheckResult, Severity, SuiteResult
from govflow.errors import DataError

SCORE_RANGE = (
    "column '{column}' has {count} scores outside [0, 1] (e.g. {example}): "
    "pass the predicted probability of the positive class (predict_proba(X)[:, 1])"
)
ONE_CLASS = "only one class in the labels: ROC AUC needs both"
METRICS = ("roc_auc", "accuracy", "precision", "recall", "brier")


def _bounds(rules: PerformancePolicy) -> dict[str, tuple[float | None, str]]:
    """Each metric's bound from the policy and whether it is a minimum or a maximum."""
    return {"roc_auc": (rules.roc_auc_min, "min"), "accuracy": (rules.accuracy_min, "min"),
            "precision": (rules.precision_min, "min"), "recall": (rules.recall_min, "min"),
            "brier": (rules.brier_max, "max")}


def _metrics(y_true: np.ndarray, y_score: np.ndarray, y_pred: np.ndarray) -> dict[str, float | None]:
    from sklearn.metrics import accuracy_score, brier_score_loss, precision_score, recall_score, roc_auc_score

    both = len(np.unique(y_true)) == 2
    guarded: dict[str, Callable[[], float]] = {
        "roc_auc": lambda: roc_auc_score(y_true, y_score) if both else np.nan,
        "accuracy": lambda: accuracy_score(y_true, y_pred),
        "precision": lambda: precision_score(y_true, y_pred, zero_division=np.nan),
        "recall": lambda: recall_score(y_true, y_pred, zero_division=np.nan),
        "brier": lambda: brier_score_loss(y_true, y_score, pos_label=1),
    }
    values: dict[str, float | None] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # sklearn warns on one-class inputs; we report None
        for name, compute in guarded.items():
            value = float(compute())
            values[name] = None if np.isnan(value) else value
    return values


def _judge(name: str, value: float | None, bound: float | None, kind: str) -> bool | None:
    if bound is None or value is None:
        return None
    return value >= bound if kind == "min" else value <= bound


def _results(values: dict[str, float | None], rules: PerformancePolicy, subject: str,
             severity: Severity, judged: bool, details: dict[str, Any]) -> list[CheckResult]:
    found = []
    for name, (bound, kind) in _bounds(rules).items():
        if bound is None and severity is not Severity.CRITICAL:
            continue  # by group, only bounded metrics become results (all are in the table)
        extra = dict(details, bound=kind)
        if values[name] is None:
            extra["reason"] = ONE_CLASS if name == "roc_auc" else "undefined (no positive predictions or labels)"
        found.append(CheckResult(
            kind=CheckKind.PERFORMANCE, name=name, subject=subject, observed=values[name], threshold=bound,
            passed=_judge(name, values[name], bound, kind) if judged else None,
            severity=severity if bound is not None else Severity.INFO, details=extra,
        ))
    return found


def assess_performance(*, y_true: Any, y_score: Any, positive_label: Any, y_pred: Any = None,
                       sensitive: pd.DataFrame | None = None, sensitive_features: Sequence[Any] | None = None,
                       policy: Policy | None = None) -> SuiteResult:
    """Measure a binary classifier on held-out data and judge it against the performance policy.

    Parameters
    ----------
    y_true : Series or array-like
        True labels, binary; `positive_label` is the favourable outcome.
    y_score : Series or array-like
        Predicted probability of the positive label, in [0, 1].
    y_pred : Series or array-like, optional
        Predicted labels (same labels as `y_true`); default ``y_score >= decision_threshold``.
    sensitive, sensitive_features : optional
        As in `govflow.checks.fairness.assess_fairness`; enables the by-group results and table.
    policy : Policy, optional
        Bounds in ``policy.performance``; ``policy.fairness.min_group_size`` for groups.

    Returns
    -------
    SuiteResult
        ``results``: one per metric of `METRICS`, subject ``"overall"`` (critical when bounded,
        else info with ``passed=None``); then, per group (subject ``"feature=group"``), a warning per
        bounded metric (``passed=None`` when the group is too small). ``tables["by_group"]``: rows
        ``{feature, group, count, judged, roc_auc, accuracy, precision, recall, brier}``.
        ``summary``: rows, positive rate, overall metrics, decision threshold, policy hash.
    """
    policy = policy or Policy()
    rules = policy.performance
    truth, score = as_series(y_true, "y_true"), as_series(y_score, "y_score")
    pred = None if y_pred is None else as_series(y_pred, "y_pred")
    if len(truth) == 0:
        raise DataError(EMPTY.format(what="y_true"))
    require_same_length({"y_true": truth, "y_score": score, "y_pred": pred,
                         "the sensitive features frame": sensitive})
    require_not_all_null(score, "the scores")
    require_numeric(score, "the scores", "a numeric dtype (probabilities)",
                    "pass predict_proba(X)[:, 1], not the predicted labels")
    scores = score.to_numpy(dtype=float)
    outside = np.isnan(scores) | (scores < 0) | (scores > 1)
    if outside.any():
        raise DataError(SCORE_RANGE.format(column=score.name, count=int(outside.sum()),
                                           example=score[outside].iloc[0]))
    yt, yp = encode_binary(truth, positive_label, pred, what="the outcomes")
    if yp is None:
        yp = (scores >= rules.decision_threshold).astype(np.int8)

    overall = _metrics(yt, scores, yp)
    results = _results(overall, rules, "overall", Severity.CRITICAL, True, {})
    rows: list[dict[str, Any]] = []
    if sensitive is not None:
        sensitive = require_frame(sensitive, "the sensitive features frame")
        features = parse_features(sensitive_features, sensitive)
        labels = group_labels(sensitive, features)
        for feature in features:
            for group, index in labels.groupby(feature.column, sort=True).indices.items():
                judged = len(index) >= policy.fairness.min_group_size
                values = _metrics(yt[index], scores[index], yp[index])
                rows.append({"feature": feature.column, "group": group, "count": len(index),
                             "judged": judged, **values})
                if rules.per_group:
                    results += _results(values, rules, f"{feature.column}={group}", Severity.WARNING, judged,
                                        {"feature": feature.column, "group": group, "count": len(index)})
    summary = {"rows": len(yt), "positive_rate": float(yt.mean()), "overall": overall,
               "decision_threshold": rules.decision_threshold if pred is None else None,
               "policy_hash": policy.hash()}
    return SuiteResult(kind=CheckKind.PERFORMANCE, results=tuple(results), summary=summary,
                       tables={"by_group": tuple(rows)} if rows else {})
