"""Fairness: outcomes by sensitive group, and the between-group disparities the policy bounds.

For each sensitive feature, and for the intersection of all of them, fairlearn's `MetricFrame`
computes by group the count, selection rate (share of favourable predictions), accuracy, true- and
false-positive rate, and the between-group disparities: demographic parity difference (largest gap
in selection rate), disparate impact ratio (smallest over largest selection rate, fairlearn's
demographic parity ratio, the four-fifths rule) and equalized odds difference (the larger of the
largest gaps in true- and false-positive rate).

Groups with fewer than ``min_group_size`` rows are "too small to judge": reported (``passed=None``)
and left out of the disparities. When a disparity passes only because such groups were left out, a
``small_group_exclusion`` warning says so, with the value including them.

Speed: the metrics depend on the rows only through each group's confusion counts, so `MetricFrame`
is given one weighted row per (group, label, prediction) cell instead of every row. That gives the
same values in milliseconds instead of seconds (`MetricFrame` stacks every row in Python). The
bootstrap likewise resamples rows through a multinomial draw over those cells: the same distribution
as fairlearn's ``n_boot`` (which resamples the rows, about 2.5 s per resample on 200k rows), at a
cost independent of the row count.

Examples
--------
>>> y = pd.Series(["good", "bad"] * 40, name="creditability")
>>> sex = pd.DataFrame({"sex": ["f", "f", "m", "m"] * 20})
>>> suite = assess_fairness(y_true=y, y_pred=y, sensitive=sex, positive_label="good")
>>> [(r.name, r.passed) for r in suite.results if r.subject == "sex"]
[('demographic_parity_difference', True), ('disparate_impact_ratio', True), ('equalized_odds_difference', True)]
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, TypedDict

import numpy as np
import pandas as pd

from govflow.checks.groups import SensitiveFeature, group_labels, intersect, intersection_name, parse_features
from govflow.checks.inputs import as_series, encode_binary, require_frame, require_same_length
from govflow.checks.policy import FairnessPolicy, Policy
from govflow.checks.results import CheckKind, CheckResult, Severity, SuiteResult

TOO_SMALL = "too small to judge"
FEWER_THAN_TWO = "fewer than two groups have at least {min_size} rows: the disparity cannot be judged"
UNDEFINED = (
    "undefined for these groups (no favourable prediction in any group, or a group without "
    "positive or negative labels): the disparity cannot be judged"
)
EXCLUSION = (
    "{metric} passes ({judged:.3f}) only because {groups} (fewer than {min_size} rows) "
    "were left out; with them it is {with_all:.3f}"
)
METRICS = ("selection_rate", "accuracy", "tpr", "fpr")
DISPARITIES = ("demographic_parity_difference", "disparate_impact_ratio", "equalized_odds_difference")


class GroupRow(TypedDict):
    """One row of ``suite.tables["by_group"]``; ``*_ci`` are ``[low, high]`` or None."""

    feature: str  # a feature, or the intersection "a & b"
    group: str  # its group label, e.g. "[0, 25)" or "female & [0, 25)"
    count: int
    positives: int  # rows with the favourable label: the denominator of the TPR
    negatives: int  # rows without it: the denominator of the FPR
    judged: bool  # False: too small to judge
    selection_rate: float | None
    accuracy: float | None
    tpr: float | None
    fpr: float | None
    mean_score: float | None
    selection_rate_ci: list[float] | None
    accuracy_ci: list[float] | None
    tpr_ci: list[float] | None
    fpr_ci: list[float] | None


def _rate(numerator: Any, denominator: Any) -> Any:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan)


# Weighted metrics over (label, prediction) cells; definitions as in fairlearn / scikit-learn.
def _selection_rate(y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray) -> float:
    return float(_rate(np.sum(sample_weight * y_pred), np.sum(sample_weight)))


def _accuracy(y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray) -> float:
    return float(_rate(np.sum(sample_weight * (y_true == y_pred)), np.sum(sample_weight)))


def _tpr(y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray) -> float:
    return float(_rate(np.sum(sample_weight * y_true * y_pred), np.sum(sample_weight * y_true)))


def _fpr(y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray) -> float:
    return float(_rate(np.sum(sample_weight * (1 - y_true) * y_pred), np.sum(sample_weight * (1 - y_true))))


_FUNCTIONS = {"selection_rate": _selection_rate, "accuracy": _accuracy, "tpr": _tpr, "fpr": _fpr}


def _metric_frame(groups: list[str], cells: np.ndarray, name: str) -> Any:
    """fairlearn MetricFrame over one weighted row per non-empty (group, label, prediction) cell."""
    from fairlearn.metrics import MetricFrame

    g, c = np.nonzero(cells)
    weights = cells[g, c].astype(float)
    return MetricFrame(
        metrics=_FUNCTIONS, y_true=c // 2, y_pred=c % 2,
        sensitive_features=pd.Series(np.asarray(groups, dtype=object)[g], name=name),
        sample_params={m: {"sample_weight": weights} for m in _FUNCTIONS},
    )


def _disparities(frame: Any) -> dict[str, float | None]:
    diff, ratio = frame.difference(), frame.ratio()
    eod = np.nanmax([diff["tpr"], diff["fpr"]]) if not np.isnan([diff["tpr"], diff["fpr"]]).all() else np.nan
    values = {"demographic_parity_difference": diff["selection_rate"],
              "disparate_impact_ratio": ratio["selection_rate"], "equalized_odds_difference": eod}
    return {k: None if pd.isna(v) else float(v) for k, v in values.items()}


def _rates(cells: np.ndarray) -> dict[str, np.ndarray]:
    """Metrics by group from confusion counts ``[..., group, (tn, fp, fn, tp)]``."""
    tn, fp, fn, tp = (cells[..., i] for i in range(4))
    n = tn + fp + fn + tp
    return {"selection_rate": _rate(fp + tp, n), "accuracy": _rate(tn + tp, n),
            "tpr": _rate(tp, tp + fn), "fpr": _rate(fp, fp + tn)}


def _spread(values: np.ndarray) -> np.ndarray:
    return np.nanmax(values, axis=-1) - np.nanmin(values, axis=-1)


def _bootstrap(cells: np.ndarray, judged: np.ndarray, policy: FairnessPolicy, seed: list[int]
               ) -> tuple[dict[str, np.ndarray], dict[str, list[float] | None]]:
    """Percentile intervals by group and of the disparities over the judged groups."""
    rng = np.random.default_rng(seed)
    total = int(cells.sum())
    draws = rng.multinomial(total, cells.ravel() / total, size=policy.bootstrap_samples).reshape(
        (policy.bootstrap_samples, *cells.shape))
    alpha = (1 - policy.confidence_level) / 2
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices when a group drew no rows
        rates = _rates(draws)
        by_group = {m: np.nanquantile(v, [alpha, 1 - alpha], axis=0) for m, v in rates.items()}
        samples: dict[str, np.ndarray] = {}
        if judged.sum() >= 2:
            sel = rates["selection_rate"][:, judged]
            samples = {
                "demographic_parity_difference": _spread(sel),
                "disparate_impact_ratio": np.nanmin(sel, axis=1) / np.nanmax(sel, axis=1),
                "equalized_odds_difference": np.fmax(_spread(rates["tpr"][:, judged]),
                                                     _spread(rates["fpr"][:, judged])),
            }
        intervals: dict[str, list[float] | None] = {}
        for name in DISPARITIES:
            values = samples.get(name, np.array([np.nan]))
            values = values[np.isfinite(values)]
            intervals[name] = None if values.size == 0 else [float(q) for q in np.quantile(values, [alpha, 1 - alpha])]
    return by_group, intervals


def _passes(metric: str, value: float | None, policy: FairnessPolicy) -> bool | None:
    if value is None:
        return None
    if metric == "disparate_impact_ratio":
        return value >= policy.disparate_impact_ratio_min
    bound = (policy.demographic_parity_difference_max if metric == "demographic_parity_difference"
             else policy.equalized_odds_difference_max)
    return value <= bound


def _threshold(metric: str, policy: FairnessPolicy) -> float:
    return {"demographic_parity_difference": policy.demographic_parity_difference_max,
            "disparate_impact_ratio": policy.disparate_impact_ratio_min,
            "equalized_odds_difference": policy.equalized_odds_difference_max}[metric]


def _analyse(name: str, groups: pd.Series, y_true: np.ndarray, y_pred: np.ndarray,
             y_score: np.ndarray | None, policy: FairnessPolicy, severity: Severity, index: int
             ) -> tuple[list[CheckResult], list[GroupRow]]:
    """Results and by-group rows for one feature (or the intersection)."""
    codes, uniques = pd.factorize(groups, sort=True)
    labels = [str(u) for u in uniques]
    cells = np.bincount(codes * 4 + y_true * 2 + y_pred, minlength=len(labels) * 4).reshape(len(labels), 4)
    counts = cells.sum(axis=1)
    judged = counts >= policy.min_group_size
    everyone = _metric_frame(labels, cells, name)
    with_all = _disparities(everyone)
    judged_values: dict[str, float | None] = dict.fromkeys(DISPARITIES)
    if judged.sum() >= 2:
        judged_values = _disparities(_metric_frame([g for g, j in zip(labels, judged) if j], cells[judged], name))
    ci_groups: dict[str, np.ndarray] = {}
    ci_disparity: dict[str, list[float] | None] = dict.fromkeys(DISPARITIES)
    if policy.bootstrap_samples:
        ci_groups, ci_disparity = _bootstrap(cells, judged, policy, [policy.random_seed, index])
    scores = (pd.Series(y_score).groupby(codes).mean() if y_score is not None else None)

    rows: list[GroupRow] = []
    results: list[CheckResult] = []
    by_group = everyone.by_group
    for i, label in enumerate(labels):
        row: dict[str, Any] = {"feature": name, "group": label, "count": int(counts[i]),
                               "positives": int(cells[i, 2] + cells[i, 3]), "negatives": int(cells[i, 0] + cells[i, 1]),
                               "judged": bool(judged[i])}
        row.update({m: by_group.loc[label, m] for m in METRICS})
        row["mean_score"] = None if scores is None else scores.get(i)
        for m in METRICS:
            row[f"{m}_ci"] = list(ci_groups[m][:, i]) if m in ci_groups else None
        rows.append(row)  # type: ignore[arg-type]
        results.append(CheckResult(
            kind=CheckKind.FAIRNESS, name="group_size", subject=f"{name}={label}", observed=int(counts[i]),
            threshold=policy.min_group_size, passed=True if judged[i] else None,
            severity=Severity.INFO if judged[i] else Severity.WARNING,
            details={"feature": name, "group": label, "status": "judged" if judged[i] else TOO_SMALL},
        ))

    excluded = [g for g, j in zip(labels, judged) if not j]
    for metric in DISPARITIES:
        value = judged_values[metric]
        passed = _passes(metric, value, policy)
        details: dict[str, Any] = {
            "feature": name, "groups_judged": [g for g, j in zip(labels, judged) if j],
            "excluded_groups": excluded, "value_with_all_groups": with_all[metric],
            "ci": ci_disparity[metric], "confidence_level": policy.confidence_level if policy.bootstrap_samples else None,
        }
        if metric == "equalized_odds_difference":
            details["components"] = ["tpr", "fpr"]
        if value is None:
            details["reason"] = (FEWER_THAN_TWO.format(min_size=policy.min_group_size) if judged.sum() < 2
                                 else UNDEFINED)
        results.append(CheckResult(kind=CheckKind.FAIRNESS, name=metric, subject=name, observed=value,
                                   threshold=_threshold(metric, policy), passed=passed, severity=severity,
                                   details=details))
        if passed and excluded and _passes(metric, with_all[metric], policy) is False:
            message = EXCLUSION.format(metric=metric, judged=value, groups=", ".join(excluded),
                                       min_size=policy.min_group_size, with_all=with_all[metric])
            results.append(CheckResult(
                kind=CheckKind.FAIRNESS, name="small_group_exclusion", subject=name,
                observed=with_all[metric], threshold=_threshold(metric, policy), passed=False,
                severity=Severity.WARNING,
                details={"metric": metric, "value_judged_groups": value, "value_with_all_groups": with_all[metric],
                         "excluded_groups": excluded, "message": message},
            ))
    return results, rows


def assess_fairness(*, y_true: Any, y_pred: Any, sensitive: pd.DataFrame, positive_label: Any,
                    sensitive_features: Sequence[Any] | None = None, policy: Policy | None = None,
                    y_score: Any = None) -> SuiteResult:
    """Judge between-group disparities of binary predictions against the fairness policy.

    Parameters
    ----------
    y_true, y_pred : Series or array-like
        True and predicted labels, aligned by position with `sensitive`; binary, in the same labels.
    sensitive : DataFrame
        The sensitive attributes, one column each (extra columns are ignored when
        `sensitive_features` is given).
    positive_label : label
        The favourable outcome (``data.positive_label``); selection rate is the share predicted so.
    sensitive_features : sequence, optional
        Config specs: column names or ``{column, bins}`` (left-closed edges). Default: every column.
    policy : Policy, optional
        Thresholds (``policy.fairness``); default `Policy()`.
    y_score : Series or array-like, optional
        Scores of the positive class; their mean by group is added to the table.

    Returns
    -------
    SuiteResult
        ``results``: per feature (and the intersection "a & b"), one ``group_size`` per group
        (subject ``"feature=group"``; ``passed=None`` when too small), then
        ``demographic_parity_difference``, ``disparate_impact_ratio``, ``equalized_odds_difference``
        (subject the feature; details: ``groups_judged``, ``excluded_groups``,
        ``value_with_all_groups``, ``ci``), and a ``small_group_exclusion`` warning where a pass
        depends on the excluded groups. ``tables["by_group"]``: `GroupRow` rows. ``summary``: rows,
        positive label, overall rates, features, bootstrap settings, policy hash.

    Raises
    ------
    DataError
        Empty or misaligned inputs, a missing or all-null column, a non-binary outcome, an unknown
        positive label, a sensitive feature with a single group, values outside the bins.
    """
    policy = policy or Policy()
    sensitive = require_frame(sensitive, "the sensitive features frame")
    truth, pred = as_series(y_true, "y_true"), as_series(y_pred, "y_pred")
    score = None if y_score is None else as_series(y_score, "y_score")
    require_same_length({"y_true": truth, "y_pred": pred, "the sensitive features frame": sensitive,
                         "y_score": score})
    yt, yp = encode_binary(truth, positive_label, pred, what="the outcomes")
    assert yp is not None
    features: tuple[SensitiveFeature, ...] = parse_features(sensitive_features, sensitive)
    labels = group_labels(sensitive, features)
    scores = None if score is None else score.to_numpy(dtype=float)

    rules = policy.fairness
    analyses: list[tuple[str, pd.Series, Severity]] = [(f.column, labels[f.column], Severity.CRITICAL)
                                                       for f in features]
    if rules.intersectional and len(features) > 1:
        analyses.append((intersection_name(features), intersect(labels), Severity(rules.intersection_severity)))
    results: list[CheckResult] = []
    rows: list[GroupRow] = []
    for index, (name, groups, severity) in enumerate(analyses):
        found, table = _analyse(name, groups, yt, yp, scores, rules, severity, index)
        results += found
        rows += table
    overall = {m: float(v) for m, v in _rates(np.bincount(yt * 2 + yp, minlength=4)).items()}
    summary = {
        "rows": len(yt), "positive_label": str(positive_label), "overall": overall,
        "features": [name for name, _, _ in analyses],
        "bootstrap": {"samples": rules.bootstrap_samples, "confidence_level": rules.confidence_level,
                      "seed": rules.random_seed, "method": "row resampling (multinomial over confusion cells)"},
        "policy_hash": policy.hash(),
    }
    return SuiteResult(kind=CheckKind.FAIRNESS, results=tuple(results), summary=summary,
                       tables={"by_group": tuple(dict(r) for r in rows)})
