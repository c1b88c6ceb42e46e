"""Drift: how far current data has moved from the reference data the model was built on (Evidently 0.7).

Each feature column gets a test suited to its type and size, chosen by Evidently unless the policy
names one: up to 1000 reference rows, K-S (numeric), Z (binary) or chi-square (categorical, and
numeric with at most 5 values), p-value below 0.05 means drift; above, Wasserstein distance
(numeric) or Jensen-Shannon distance (categorical), 0.1 or more means drift.

One substitution: Evidently's chi-square compares the current counts with the reference proportions
taken as exact (a goodness-of-fit test), ignoring the reference sample's own noise, so two halves of
the same data are flagged far more often than 5 % of the time (on German credit, 1 to 7 of 20
columns over 12 random half splits, enough to fail a 0.3 share bound). Where Evidently would pick
it, govflow registers and uses ``chisquare_two_sample`` instead: Pearson's chi-square test of
homogeneity on the 2 x k table of reference and current counts, a proper two-sample test. The share of drifted feature columns is judged against
``policy.drift.drifted_column_share_max`` (critical; at most the bound passes). The predictions
column and, when both frames have labels, the target column are tested apart, with the severities
the policy gives them. Id columns are never tested: only the named features, the predictions and
the target are handed to Evidently, under an explicit `DataDefinition`.

The self-contained HTML report (about 4 MB; no CDN needed) and Evidently's own JSON snapshot are
returned as attachments for the caller to store.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from typing import Any

import pandas as pd

from govflow.checks.inputs import require_columns, require_frame, require_not_all_null, require_numeric
from govflow.checks.policy import DriftPolicy, Policy
from govflow.checks.results import Attachment, CheckKind, CheckResult, Severity, SuiteResult
from govflow.errors import DataError

NO_FEATURES = "no feature columns to test for drift: name them with columns=[...]"
NO_LABELS = "labels not present in both frames: target drift not tested"
TWO_SAMPLE_CHI2 = "chisquare_two_sample"
OUT_OF_DOMAIN = "out_of_domain"  # a current-frame column: how many of a row's inputs were out of domain when served
SMALL_REFERENCE = 1000  # Evidently's switch from statistical tests to distances (reference rows)


def _two_sample_chi2(reference_data: pd.Series, current_data: pd.Series, feature_type: Any,
                     threshold: float) -> tuple[float, bool]:
    """Pearson's chi-square test of homogeneity of two samples' value counts; drift when p < threshold."""
    from scipy.stats import chi2_contingency

    counts = pd.concat([reference_data.value_counts(), current_data.value_counts()], axis=1).fillna(0)
    table = counts.to_numpy(dtype=float).T
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 1.0, False
    p_value = float(chi2_contingency(table, correction=False)[1])
    return p_value, p_value < threshold


def _evidently() -> Any:
    """Import Evidently (its DeprecationWarnings silenced) and register `chisquare_two_sample` once."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import evidently
        from evidently import metrics, presets
        from evidently.legacy.calculations.stattests import registry
        from evidently.legacy.core import ColumnType

    if _two_sample_chi2 not in registry._registered_stat_test_funcs:
        registry.register_stattest(registry.StatTest(
            name=TWO_SAMPLE_CHI2, display_name="chi-square two-sample p_value", default_threshold=0.05,
            allowed_feature_types=[ColumnType.Categorical, ColumnType.Numerical]), default_impl=_two_sample_chi2)
    return evidently, metrics, presets


def _methods(reference: pd.DataFrame, current: pd.DataFrame, types: dict[str, str],
             rules: DriftPolicy) -> dict[str, str]:
    """Per column, `chisquare_two_sample` where Evidently would pick its one-sample chi-square."""
    if len(reference) > SMALL_REFERENCE:
        return {}
    chosen = {}
    for column, kind in types.items():
        if _method(rules, kind)[0] is not None:
            continue
        values = pd.concat([reference[column], current[column]], ignore_index=True).nunique()
        if values > 2 and (kind == "cat" or values <= 5):
            chosen[column] = TWO_SAMPLE_CHI2
    return chosen


def _is_numerical(series: pd.Series) -> bool:
    """Numeric with more than two values; binary and text columns are categorical."""
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    return bool(numeric and series.nunique(dropna=True) > 2)


def _types(reference: pd.DataFrame, columns: Sequence[str], numerical: Sequence[str] | None,
           categorical: Sequence[str] | None) -> dict[str, str]:
    """"num" or "cat" per column: as given, else from the reference data."""
    found = {}
    for column in columns:
        if numerical is not None and column in numerical:
            found[column] = "num"
        elif categorical is not None and column in categorical:
            found[column] = "cat"
        else:
            found[column] = "num" if _is_numerical(reference[column]) else "cat"
    return found


def _check_inputs(reference: pd.DataFrame, current: pd.DataFrame, types: dict[str, str]) -> None:
    for frame, what in ((reference, "the reference data"), (current, "the current data")):
        require_columns(frame, types, what)
        for column, kind in types.items():
            require_not_all_null(frame[column], what)
            if kind == "num":
                require_numeric(frame[column], what, "a numeric dtype, as a numerical column",
                                "convert it to numbers, or list it under categorical")


def _method(rules: DriftPolicy, kind: str) -> tuple[str | None, float | None]:
    if kind == "num":
        return rules.numerical_method, rules.numerical_threshold
    return rules.categorical_method, rules.categorical_threshold


def _parse(snapshot: Any) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The drifted-columns count and, per column, Evidently's score, method, threshold and verdict."""
    data = json.loads(snapshot.json())
    status = {t["metric_config"]["metric_id"]: t["status"] for t in data.get("tests", [])}
    share: dict[str, Any] = {}
    columns: dict[str, dict[str, Any]] = {}
    for metric in data["metrics"]:
        config = metric["config"]
        if config["type"].endswith(":DriftedColumnsCount"):
            share = metric["value"]
        elif config["type"].endswith(":ValueDrift"):
            columns[config["column"]] = {"score": metric["value"], "method": config.get("method"),
                                         "threshold": config.get("threshold"),
                                         "drifted": status.get(metric["id"]) == "FAIL"}
    return share, columns


def _column_result(name: str, column: str, info: dict[str, Any], kind: str, severity: Severity) -> CheckResult:
    method = str(info["method"])
    p_value = "p_value" in method or method == TWO_SAMPLE_CHI2
    return CheckResult(
        kind=CheckKind.DRIFT, name=name, subject=column, observed=info["score"], threshold=info["threshold"],
        passed=not info["drifted"], severity=severity,
        details={"method": method, "type": "numerical" if kind == "num" else "categorical",
                 "score_kind": "p_value" if p_value else "distance",
                 "drift_when": "score < threshold" if p_value else "score >= threshold"},
    )


def assess_drift(*, reference: pd.DataFrame, current: pd.DataFrame, policy: Policy | None = None,
                 columns: Sequence[str] | None = None, numerical: Sequence[str] | None = None,
                 categorical: Sequence[str] | None = None, id_columns: Sequence[str] = (),
                 prediction: str | None = None, target: str | None = None, report: bool = True) -> SuiteResult:
    """Compare current data with reference data, column by column, with Evidently.

    Parameters
    ----------
    reference, current : DataFrame
        The data the model was built on (or a past window) and the data to compare.
    policy : Policy, optional
        ``policy.drift``; default `Policy()`.
    columns : sequence of str, optional
        Feature columns to test. Default: every column of `reference` except `id_columns`,
        `prediction`, `target` and datetime columns.
    numerical, categorical : sequence of str, optional
        Column types; others are numerical when numeric with more than two values, else categorical.
    id_columns : sequence of str
        Never tested.
    prediction : str, optional
        The predictions column (in both frames): prediction drift, with ``policy.drift.prediction_drift``.
    target : str, optional
        The labels column: target drift when both frames have it (``policy.drift.target_drift``).
    report : bool
        Attach the HTML report and Evidently's JSON snapshot (default True).

    Returns
    -------
    SuiteResult
        ``results``: ``drifted_column_share`` (subject ``"features"``, critical), one ``column_drift``
        per feature (warning; observed the score, threshold the test's; details method, score kind),
        then ``prediction_drift`` and ``target_drift`` when asked for. ``tables["columns"]``: rows
        ``{column, type, method, threshold, score, drifted}``. ``summary``: row counts, drifted count
        and share, policy hash. ``attachments``: ``report`` (``drift_report.html``, text/html) and
        ``evidently_snapshot`` (``drift_snapshot.json``).
    """
    policy = policy or Policy()
    rules = policy.drift
    reference = require_frame(reference, "the reference data")
    current = require_frame(current, "the current data")
    special = {c for c in (*id_columns, prediction, target) if c}
    if columns is None:  # timestamps order the rows; they are not features to compare
        columns = [c for c in reference.columns if not pd.api.types.is_datetime64_any_dtype(reference[c])]
    features = [str(c) for c in columns if c not in special]
    if not features:
        raise DataError(NO_FEATURES)
    with_target = bool(target) and rules.target_drift != "off" and target in reference and target in current
    extra = [c for c, on in ((prediction, rules.prediction_drift != "off"), (target, with_target)) if c and on]
    types = _types(reference, features + extra, numerical, categorical)
    _check_inputs(reference, current, types)

    snapshot, html = _run_evidently(reference, current, types, features, extra, rules, report)
    counted, by_column = _parse(snapshot)

    drifted = [c for c in features if by_column[c]["drifted"]]
    share = len(drifted) / len(features)
    results = [CheckResult(
        kind=CheckKind.DRIFT, name="drifted_column_share", subject="features", observed=share,
        threshold=rules.drifted_column_share_max, passed=share <= rules.drifted_column_share_max,
        severity=Severity.CRITICAL,
        details={"drifted": drifted, "drifted_count": len(drifted), "columns": len(features),
                 "evidently": counted},
    )]
    results += _column_results(features, extra, types, by_column, rules, prediction, target, with_target)
    if OUT_OF_DOMAIN in current.columns:
        results.append(out_of_domain_share(current[OUT_OF_DOMAIN], rules))
    table = [{"column": c, "type": "numerical" if types[c] == "num" else "categorical", **by_column[c]}
             for c in features + extra]
    attachments: tuple[Attachment, ...] = ()
    if html is not None:
        attachments = (Attachment("report", "drift_report.html", "text/html", html.encode("utf-8")),
                       Attachment("evidently_snapshot", "drift_snapshot.json", "application/json",
                                  snapshot.json().encode("utf-8")))
    summary = {"reference_rows": len(reference), "current_rows": len(current), "drifted_count": len(drifted),
               "drifted_share": share, "columns": len(features), "policy_hash": policy.hash(),
               "evidently_version": _evidently()[0].__version__}
    return SuiteResult(kind=CheckKind.DRIFT, results=tuple(results), summary=summary,
                       tables={"columns": tuple(table)}, attachments=attachments)


def _run_evidently(reference: pd.DataFrame, current: pd.DataFrame, types: dict[str, str], features: list[str],
                   extra: list[str], rules: DriftPolicy, report: bool) -> tuple[Any, str | None]:
    """Evidently's report over the typed columns: the snapshot, and its HTML when a report is asked for."""
    evidently, metrics, presets = _evidently()
    definition = evidently.DataDefinition(
        numerical_columns=[c for c, k in types.items() if k == "num"],
        categorical_columns=[c for c, k in types.items() if k == "cat"],
    )
    chosen = _methods(reference, current, types, rules)
    items: list[Any] = [presets.DataDriftPreset(
        columns=features, drift_share=rules.drifted_column_share_max,
        num_method=rules.numerical_method, num_threshold=rules.numerical_threshold,
        cat_method=rules.categorical_method, cat_threshold=rules.categorical_threshold,
        per_column_method={c: m for c, m in chosen.items() if c in features} or None)]
    for column in extra:
        method, threshold = _method(rules, types[column])
        items.append(metrics.ValueDrift(column=column, method=chosen.get(column, method), threshold=threshold))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        snapshot = evidently.Report(items, include_tests=True).run(
            current_data=evidently.Dataset.from_pandas(current[list(types)], data_definition=definition),
            reference_data=evidently.Dataset.from_pandas(reference[list(types)], data_definition=definition))
        html = snapshot.get_html_str(as_iframe=False) if report else None
    return snapshot, html


def _column_results(features: list[str], extra: list[str], types: dict[str, str], by_column: dict[str, dict[str, Any]],
                    rules: DriftPolicy, prediction: str | None, target: str | None,
                    with_target: bool) -> list[CheckResult]:
    """One result per feature, then prediction and target drift when asked for (or why target drift was not)."""
    results = [_column_result("column_drift", c, by_column[c], types[c], Severity.WARNING) for c in features]
    for name, special_column, level in (("prediction_drift", prediction, rules.prediction_drift),
                                        ("target_drift", target, rules.target_drift)):
        if special_column is not None and special_column in extra:
            results.append(_column_result(name, special_column, by_column[special_column],
                                          types[special_column], Severity(level)))
    if target and rules.target_drift != "off" and not with_target:
        results.append(CheckResult(kind=CheckKind.DRIFT, name="target_drift", subject=target, observed=None,
                                   threshold=None, passed=None, severity=Severity.INFO,
                                   details={"reason": NO_LABELS}))
    return results


def out_of_domain_share(flagged_fields: pd.Series, rules: DriftPolicy) -> CheckResult:
    """The share of predictions served with an input outside the training range or set (critical).

    ``flagged_fields`` holds, per prediction, how many of its inputs serving flagged out of domain
    (``serving.out_of_domain: flag``); the bound is ``policy.drift.out_of_domain_share_max``.
    """
    counts = pd.to_numeric(flagged_fields, errors="coerce").fillna(0)
    flagged = int((counts > 0).sum())
    share = flagged / len(counts) if len(counts) else 0.0
    return CheckResult(kind=CheckKind.DRIFT, name="out_of_domain_share", subject="predictions", observed=share,
                       threshold=rules.out_of_domain_share_max, passed=share <= rules.out_of_domain_share_max,
                       severity=Severity.CRITICAL, details={"flagged": flagged, "predictions": len(counts)})
