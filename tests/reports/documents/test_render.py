"""Rendering helpers: escaping, value formatting, and the tolerant check tables."""

from __future__ import annotations

from typing import Any

import pytest

from govflow.governance.reports.documents import checks_view as view
from govflow.governance.reports.documents.render import Builder, block_safe, code, esc, fmt, plain, to_html
from govflow.governance.reports.evidence import CheckFact


def check(name: str = "m", subject: str = "s", passed: bool | None = True, observed: Any = 0.5,
          threshold: Any = None, details: dict[str, Any] | None = None, kind: str = "fairness") -> CheckFact:
    return CheckFact(id="c", run_id="r", task="t", phase="gate", kind=kind, name=name, subject=subject,
                     passed=passed, observed=observed, threshold=threshold, severity="error", details=details or {})


@pytest.mark.parametrize(("text", "expected"), [
    ("credit_amount", "credit_amount"),
    ("_x_ *y* [a](b) <c> a|b", r"\_x\_ \*y\* \[a](b) \<c> a\|b"),
    ("line\nbreak", "line break"),
    ("0.1094 > 0.1", "0.1094 > 0.1"),
])
def test_esc(text: str, expected: str) -> None:
    assert esc(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("# h", r"\# h"), ("> q", r"\> q"), ("- z", r"\- z"), ("1. x", r"1\. x"), ("12) y", r"12\) y"), ("a", "a"),
])
def test_block_safe(text: str, expected: str) -> None:
    assert block_safe(text) == expected


def test_code_span_survives_backticks_and_renders_literally() -> None:
    assert code("a`b") == "``a`b``"
    assert "<code>a|b</code>" in to_html(f"| x |\n|---|\n| {code('a|b').replace('|', chr(92) + '|')} |\n", "t")


@pytest.mark.parametrize(("value", "expected"), [
    (None, "—"), (True, "yes"), (3, "3"), (0.123456, "0.1235"), (0.1, "0.1"), ([0.41, 0.57], "[0.41, 0.57]"),
    (["a", "b", "c"], "a, b, c"), ({"min": 0.8, "max": 1}, "max: 1; min: 0.8"), ("x", "x"),
])
def test_fmt(value: Any, expected: str) -> None:
    assert fmt(value) == expected


def test_plain_strips_inline_markup() -> None:
    assert plain(r"role `model_owner` \(x\) **b**") == "role model_owner (x) b"


def test_builder_fields_turn_missing_values_into_gaps() -> None:
    b = Builder("doc")
    b.heading(2, "Intended use")
    b.fields([("Use", "scoring"), ("Users", None)])
    assert "| **Users** | *Not recorded* |" in b.markdown()
    assert b.gaps == ["Intended use: Users"]


def test_marks() -> None:
    assert view.mark(check(passed=True)) == "✔ pass"
    assert view.mark(check(passed=False)) == "✘ fail"
    assert view.mark(check(passed=None)) == "○ not judged"
    assert view.mark(check(name="group_size", passed=True, details={"group": "a", "status": "judged"})) == "judged"
    assert view.mark(check(name="group_size", passed=None, details={"group": "a"})) == "○ too small to judge"
    assert view.mark(check(name="roc_auc", passed=False, details={"group": "a"})) == "✘ fail"


@pytest.mark.parametrize(("name", "threshold", "details", "expected"), [
    ("disparate_impact_ratio", 0.8, {}, "≥ 0.8"),
    ("demographic_parity_difference", 0.1, {}, "≤ 0.1"),
    ("roc_auc", 0.7, {"bound": "min"}, "≥ 0.7"),
    ("brier", 0.25, {"bound": "max"}, "≤ 0.25"),
    ("custom", 3, {}, "3"),
    ("custom", {"max": 0.3}, {}, "max: 0.3"),
    ("custom", None, {}, "—"),
])
def test_bounds_carry_their_direction(name: str, threshold: Any, details: dict[str, Any], expected: str) -> None:
    assert view.bound(check(name=name, threshold=threshold, details=details)) == expected


def group_size(feature: str, group: str, count: int, **details: Any) -> CheckFact:
    return check(name="group_size", subject=f"{feature}={group}", passed=True if count >= 30 else None,
                 observed=count, threshold=30, details={"feature": feature, "group": group, **details})


def test_group_tables_merge_results_with_the_stored_table_known_keys_first() -> None:
    results = [group_size("sex", "f", 40, status="judged"), group_size("sex", "m", 12, status="too small to judge")]
    table = [{"feature": "sex", "group": "f", "count": 40, "judged": True, "zeta": 1, "tpr": 0.8, "selection_rate": 0.5},
             {"feature": "sex", "group": "m", "count": 12, "judged": False, "precision_ci": [0.1, 0.3]},
             {"feature": "sex", "group": "x", "count": 3, "judged": False}]
    [(feature, header, body)] = view.group_tables(results, table)
    assert feature == "sex"
    assert header == ["Group", "Count", "Selection rate", "TPR", "Precision ci", "Zeta", "Bound", "Result"]
    assert body == [
        ["`f`", "40", "0.5", "0.8", "—", "1", "≥ 30", "judged"],
        ["`m`", "12", "—", "—", "[0.1, 0.3]", "—", "≥ 30", "○ too small to judge"],
        ["`x`", "3", "—", "—", "—", "—", "—", "○ too small to judge"],
    ]


def test_group_tables_without_the_stored_table_show_what_the_results_hold() -> None:
    [(_, header, body)] = view.group_tables([group_size("age", "[0, 25)", 52, status="judged")])
    assert header == ["Group", "Count", "Bound", "Result"]
    assert body == [["`[0, 25)`", "52", "≥ 30", "judged"]]


def test_per_group_results_of_other_checks_get_a_row_each() -> None:
    rows = [check(name="roc_auc", subject="sex=f", observed=0.71, threshold=0.7, details={"feature": "sex", "group": "f",
                                                                                         "count": 40, "bound": "min"}),
            check(name="accuracy", subject="sex=f", observed=0.6, threshold=0.65, passed=False,
                  details={"feature": "sex", "group": "f", "count": 40, "bound": "min"})]
    [(_, header, body)] = view.group_tables(rows)
    assert header == ["Group", "Count", "Check", "Observed", "Bound", "Result"]
    assert body == [["`f`", "40", "`roc_auc`", "0.71", "≥ 0.7", "✔ pass"],
                    ["`f`", "40", "`accuracy`", "0.6", "≥ 0.65", "✘ fail"]]


def test_group_tables_group_by_the_feature_detail_or_the_subject() -> None:
    rows = [check(subject="x", details={"group": "a", "feature": "age"}),
            check(subject="sex=f", details={"group": "f"}),
            check(subject="age", details={"group": "b", "feature": "age"})]
    assert view.groups(rows) == {"age": ["a", "b"], "sex": ["f"]}


def test_summary_rows_leave_group_rows_out_and_show_intervals() -> None:
    header, body = view.summary_rows([
        check(name="demographic_parity_difference", subject="sex", observed=0.12, threshold=0.1, passed=False,
              details={"feature": "sex", "ci": [0.05, 0.2], "confidence_level": 0.95, "excluded_groups": ["m"]}),
        check(details={"group": "a"})])
    assert header == ["Check", "Subject", "Observed", "CI", "Bound", "Result", "Severity", "Details"]
    assert body == [["`demographic_parity_difference`", "`sex`", "0.12", "[0.05, 0.2]", "≤ 0.1", "✘ fail", "error",
                     "excluded_groups: m"]]
