"""How recorded check results read in a document: marks, result tables and per-group tables.

The one place that maps check rows, and the detail keys the checks record, to table columns. It is
tolerant on purpose: a per-group row is any row whose details hold a ``group``; its table shows every
detail key the rows hold (known keys first, under readable labels, then the rest by name), so a
detail added to the checks later shows up as a column instead of being dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from governance.documents.render import code, esc, fmt, val
from governance.evidence import CheckFact

PASS, FAIL, NOT_JUDGED, TOO_SMALL = "✔ pass", "✘ fail", "○ not judged", "○ too small to judge"
GROUP_KEY = "group"
FEATURE_KEYS = ("feature", "sensitive_feature", "attribute")
# Known detail keys, in the order they appear, with their column labels.
LABELS: dict[str, str] = {
    "count": "Count",
    "n": "Count",
    "selection_rate": "Selection rate",
    "ci": "CI",
    "selection_rate_ci": "Selection rate CI",
    "tpr": "TPR",
    "true_positive_rate": "TPR",
    "tpr_ci": "TPR CI",
    "fpr": "FPR",
    "false_positive_rate": "FPR",
    "fpr_ci": "FPR CI",
    "accuracy": "Accuracy",
    "roc_auc": "ROC AUC",
    "precision": "Precision",
    "recall": "Recall",
    "brier_score": "Brier score",
}
DETAILS_MAX = 160  # characters of a summary row's details shown in a table cell


def mark(check: CheckFact) -> str:
    """Pass, fail, or not judged; a per-group row that is not judged was too small to judge."""
    if check.passed is None:
        return TOO_SMALL if is_group_row(check) else NOT_JUDGED
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


def bound(threshold: Any) -> str:
    return fmt(threshold)


def _columns(rows: Sequence[CheckFact]) -> list[str]:
    skip = {GROUP_KEY, *FEATURE_KEYS}
    present = list(dict.fromkeys(k for c in rows for k in c.details if k not in skip))
    known = [k for k in LABELS if k in present]
    return known + sorted(k for k in present if k not in LABELS)


def group_tables(checks: Iterable[CheckFact]) -> list[tuple[str, list[str], list[list[str]]]]:
    """Per sensitive feature: (feature, header, rows) of the per-group rows, in recorded order."""
    by_feature: dict[str, list[CheckFact]] = {}
    for check in checks:
        if is_group_row(check):
            by_feature.setdefault(feature_of(check), []).append(check)
    tables = []
    for feature, rows in by_feature.items():
        columns = _columns(rows)
        names = len({c.name for c in rows}) > 1
        observed = any(c.observed is not None and c.observed not in list(c.details.values()) for c in rows)
        bounds = any(c.threshold is not None for c in rows)
        header = ["Group", *(label(k) for k in columns)]
        header += (["Check"] if names else []) + (["Observed"] if observed else [])
        header += (["Bound"] if bounds else []) + ["Result"]
        body = []
        for c in rows:
            cells = [code(fmt(c.details.get(GROUP_KEY)))] + [val(c.details.get(k)) for k in columns]
            cells += ([code(c.name)] if names else []) + ([val(c.observed)] if observed else [])
            cells += ([esc(bound(c.threshold))] if bounds else []) + [mark(c)]
            body.append(cells)
        tables.append((feature, header, body))
    return tables


def _details(details: Mapping[str, Any]) -> str:
    text = fmt(dict(details)) if details else ""
    return text if len(text) <= DETAILS_MAX else text[: DETAILS_MAX - 1] + "…"


def summary_rows(checks: Iterable[CheckFact], *, phase: bool = False) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the rows that are not per-group: one metric or assertion each."""
    rows = [c for c in checks if not is_group_row(c)]
    with_details = any(c.details for c in rows)
    header = (["Phase"] if phase else []) + ["Check", "Subject", "Observed", "Bound", "Result", "Severity"]
    header += ["Details"] if with_details else []
    body = []
    for c in rows:
        cells = ([esc(c.phase)] if phase else []) + [code(c.name), code(c.subject), val(c.observed),
                                                      esc(bound(c.threshold)), mark(c), esc(c.severity)]
        body.append(cells + ([esc(_details(c.details))] if with_details else []))
    return header, body


def describe(check: CheckFact) -> str:
    """One check result on one line: name, subject (or group), observed against bound, result."""
    if is_group_row(check):
        on = f"group {code(fmt(check.details[GROUP_KEY]))} of {code(feature_of(check))}"
    else:
        on = code(check.subject)
    return (f"{code(check.name)} on {on}: observed {val(check.observed)}, "
            f"bound {esc(bound(check.threshold))}: {mark(check)}")


def groups(checks: Iterable[CheckFact]) -> dict[str, list[str]]:
    """The groups evaluated, per sensitive feature, in recorded order."""
    found: dict[str, list[str]] = {}
    for check in checks:
        if is_group_row(check):
            names = found.setdefault(feature_of(check), [])
            group = fmt(check.details[GROUP_KEY])
            if group not in names:
                names.append(group)
    return found


def failed(checks: Iterable[CheckFact]) -> list[CheckFact]:
    return [c for c in checks if c.passed is False]


def not_judged(checks: Iterable[CheckFact]) -> list[CheckFact]:
    return [c for c in checks if c.passed is None]
