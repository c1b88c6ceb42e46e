"""How recorded check results read in a document: marks, bounds, result tables and per-group tables.

The one place that maps check rows, and the detail keys the checks record, to table columns. It is
tolerant on purpose: a per-group row is any result whose details hold a ``group``; its table shows
every metric known for that group, from the result's details and from the stored by-group table
(`Evidence.group_table`), known keys first under readable labels, then the rest by name, so a
metric added to the checks later shows up as a column instead of being dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from govflow.checks.groups import group_display_label
from govflow.governance.reports.documents.render import badge, code, esc, fmt, val
from govflow.governance.reports.evidence import CheckFact

PASS, FAIL, NOT_JUDGED, TOO_SMALL, JUDGED = (badge(w) for w in ("PASS", "FAIL", "NOT JUDGED", "TOO SMALL TO JUDGE",
                                                                 "JUDGED"))
GROUP_KEY = "group"
FEATURE_KEYS = ("feature", "sensitive_feature", "attribute")
# Shown as the mark or the bound instead; or kept for the charts (the denominators of TPR and FPR).
HIDDEN = {GROUP_KEY, *FEATURE_KEYS, "status", "judged", "bound", "positives", "negatives"}
# Known per-group keys, in column order, with their labels.
LABELS: dict[str, str] = {
    "count": "Count", "n": "Count",
    "selection_rate": "Selection rate", "selection_rate_ci": "Selection rate CI", "ci": "CI",
    "accuracy": "Accuracy", "accuracy_ci": "Accuracy CI",
    "tpr": "TPR", "true_positive_rate": "TPR", "tpr_ci": "TPR CI",
    "fpr": "FPR", "false_positive_rate": "FPR", "fpr_ci": "FPR CI",
    "mean_score": "Mean score", "roc_auc": "ROC AUC", "precision": "Precision", "recall": "Recall",
    "brier": "Brier score",
}
# Which side of its threshold a metric must stay on, where the result does not say (details "bound").
DIRECTIONS = {"disparate_impact_ratio": "min", "demographic_parity_difference": "max",
              "equalized_odds_difference": "max", "group_size": "min", "drifted_column_share": "max"}
# Summary-row details shown in their own column, or not at all (they repeat what the row shows).
SUMMARY_HIDDEN = {"feature", "bound", "ci", "confidence_level", "groups_judged", "components"}
FINDINGS = {"small_group_exclusion"}  # results that qualify another result rather than measure something
DETAILS_MAX = 200  # characters of a summary row's details shown in a table cell


def mark(check: CheckFact) -> str:
    """Pass or fail; a per-group row is judged or too small to judge; anything else not judged."""
    if is_group_row(check):
        if check.passed is None:
            return TOO_SMALL
        if check.details.get("status") == JUDGED or check.name == "group_size":
            return JUDGED
    if check.passed is None:
        return NOT_JUDGED
    return PASS if check.passed else FAIL


def label(key: str) -> str:
    return LABELS.get(key) or key.replace("_", " ").capitalize()


def is_group_row(check: CheckFact) -> bool:
    return isinstance(check.details, Mapping) and GROUP_KEY in check.details


def feature_of(check: CheckFact) -> str:
    """The sensitive feature a per-group row belongs to."""
    for key in FEATURE_KEYS:
        if check.details.get(key) not in (None, ""):
            return fmt(check.details[key])
    if "=" in check.subject:
        return check.subject.split("=", 1)[0].strip()
    return check.subject or check.name


def bound(check: CheckFact) -> str:
    """The threshold with its direction: "≥ 0.8", "≤ 0.1"; as recorded when the direction is unknown."""
    direction = (check.details.get("bound") or DIRECTIONS.get(check.name)
                 or DIRECTIONS.get(str(check.details.get("metric"))))
    if isinstance(check.threshold, int | float) and not isinstance(check.threshold, bool) and direction in ("min", "max"):
        return f"{'≥' if direction == 'min' else '≤'} {fmt(check.threshold)}"
    return val(check.threshold)


def _columns(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Keys with a value in at least one row: known ones first, in `LABELS` order, then by name.

    An interval (``tpr_ci``) whose metric (``tpr``) has a column is shown in that column's cells, not in
    a column of its own: the table stays narrow enough to read.
    """
    present = list(dict.fromkeys(k for r in rows for k, v in r.items() if k not in HIDDEN and v is not None))
    present = [k for k in present if not (k.endswith("_ci") and k.removesuffix("_ci") in present)]
    return [k for k in LABELS if k in present] + sorted(k for k in present if k not in LABELS)


def _cell(values: Mapping[str, Any], key: str) -> str:
    """A value, with its interval when one is recorded: ``0.5962 (0.4615–0.7308)``."""
    interval = values.get(f"{key}_ci")
    if isinstance(interval, list | tuple) and len(interval) == 2 and values.get(key) is not None:
        return f"{val(values[key])} ({val(interval[0])}–{val(interval[1])})"
    return val(values.get(key))


def shown_group(feature: str, group: str, specs: Any = None) -> str:
    """A group as a table shows it: its configured name, with the code computed from the data."""
    name = group_display_label(feature, group, specs)
    return code(group) if name == group else f"{esc(name)} ({code(group)})"


Group = tuple[str, CheckFact | None, dict[str, Any]]  # (group label, its result if any, every value known)


def by_feature(checks: Iterable[CheckFact], table: Iterable[Mapping[str, Any]] = ()) -> dict[str, list[Group]]:
    """Per-group results and by-group table rows, merged per (feature, group), in recorded order.

    A result and a table row describe the same group when feature and group match; a table row with no
    result is still shown (its mark from the table's ``judged``).
    """
    # One row per (feature, group, result name); the table's rows go with the group_size results.
    merged: dict[tuple[str, str, str], tuple[CheckFact | None, dict[str, Any]]] = {}
    for result in checks:
        if is_group_row(result):
            key = (feature_of(result), fmt(result.details[GROUP_KEY]), result.name)
            values = {"count": result.observed} if result.name == "group_size" else {}
            merged.setdefault(key, (result, {}))[1].update({**values, **result.details})
    for row in table:
        if GROUP_KEY in row:
            feature = fmt(next((row[k] for k in FEATURE_KEYS if row.get(k) not in (None, "")), ""))
            merged.setdefault((feature, fmt(row[GROUP_KEY]), "group_size"), (None, {}))[1].update(row)
    tables: dict[str, list[Group]] = {}
    for (feature, group, _), (found, values) in merged.items():
        tables.setdefault(feature, []).append((group, found, values))
    return tables


def group_tables(checks: Iterable[CheckFact], table: Iterable[Mapping[str, Any]] = (), specs: Any = None
                 ) -> list[tuple[str, list[str], list[list[str]]]]:
    """Per sensitive feature: (feature, header, rows) of every group, with the bound and the mark.

    `specs` is the config's ``data.sensitive_features``: groups it names are shown by their names.
    """
    found = []
    for feature, rows in by_feature(checks, table).items():
        columns = _columns(values for _, _, values in rows)
        results = [c for _, c, _ in rows if c is not None]
        others = {c.name for c in results} - {"group_size"}
        sizes = {fmt(c.threshold) for c in results if c.threshold is not None}
        # Only group sizes judged against one minimum (the policy's): the count and the result say it all.
        minimum = sizes.pop() if not others and len(sizes) == 1 else None
        bounds = minimum is None and any(c.threshold is not None for c in results)
        header = ["Group", *(label(k) for k in columns)] + (["Check", "Observed"] if others else [])
        header += (["Bound"] if bounds else []) + ["Result"]
        body = []
        for group, check, values in rows:
            cells = [shown_group(feature, group, specs)] + [_cell(values, k) for k in columns]
            if others:
                cells += [code(check.name), val(check.observed)] if check else ["—", "—"]
            cells += ([bound(check) if check else "—"] if bounds else [])
            judged = values.get("judged")
            cells.append(mark(check) if check else JUDGED if judged else TOO_SMALL if judged is False else NOT_JUDGED)
            body.append(cells)
        found.append((feature, header, body))
    return found


def _details(check: CheckFact) -> str:
    """What a summary row's details add: its message if it has one, else the keys the row does not show."""
    details = check.details
    if details.get("message"):
        return esc(details["message"])
    shown = {k: v for k, v in details.items()
             if k not in SUMMARY_HIDDEN and v not in (None, [], {}) and v != check.observed}
    text = fmt(shown) if shown else ""
    return esc(text if len(text) <= DETAILS_MAX else text[: DETAILS_MAX - 1] + "…")


def summary_rows(checks: Iterable[CheckFact], *, phase: bool = False) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the results that are not per-group: one metric or assertion each."""
    rows = [c for c in checks if not is_group_row(c)]
    cis = any(c.details.get("ci") for c in rows)
    details = any(_details(c) for c in rows)
    header = (["Phase"] if phase else []) + ["Check", "Subject", "Observed"] + (["CI"] if cis else [])
    header += ["Bound", "Result", "Severity"] + (["Details"] if details else [])
    body = []
    for c in rows:
        cells = ([esc(c.phase)] if phase else []) + [code(c.name), code(c.subject), val(c.observed)]
        cells += [val(c.details.get("ci"))] if cis else []
        cells += [bound(c), mark(c), esc(c.severity)] + ([_details(c)] if details else [])
        body.append(cells)
    return header, body


def describe(check: CheckFact, specs: Any = None) -> str:
    """One check result on one line: name, subject (or group), observed against bound, result."""
    if is_group_row(check):
        on = f"group {shown_group(feature_of(check), fmt(check.details[GROUP_KEY]), specs)} of {code(feature_of(check))}"
    else:
        on = code(check.subject)
    severity = f" ({esc(check.severity)})" if check.severity not in ("error", "critical") else ""
    reason = check.details.get("message") or check.details.get("reason")
    note = f"; {esc(reason)}" if reason else ""
    return (f"{code(check.name)} on {on}: observed {val(check.observed)}, bound {bound(check)}: "
            f"{mark(check)}{severity}{note}")


def groups(checks: Iterable[CheckFact], table: Iterable[Mapping[str, Any]] = ()) -> dict[str, list[str]]:
    """The groups evaluated, per sensitive feature, in recorded order."""
    return {feature: list(dict.fromkeys(group for group, _, _ in rows))
            for feature, rows in by_feature(checks, table).items()}


def has_group_metrics(checks: Iterable[CheckFact], table: Iterable[Mapping[str, Any]] = ()) -> bool:
    """Whether any group carries a selection rate (the core of a per-group fairness table)."""
    rows = by_feature(checks, table).values()
    return any(values.get(k) is not None for groups in rows for _, _, values in groups
               for k in ("selection_rate", "tpr", "true_positive_rate"))


def is_metric(check: CheckFact) -> bool:
    """A measured metric or assertion (not a per-group row, nor a finding about another result)."""
    return not is_group_row(check) and check.name not in FINDINGS


def failed(checks: Iterable[CheckFact]) -> list[CheckFact]:
    return [c for c in checks if c.passed is False]


def not_judged(checks: Iterable[CheckFact]) -> list[CheckFact]:
    return [c for c in checks if c.passed is None]
