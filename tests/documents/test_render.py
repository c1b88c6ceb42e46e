"""Rendering helpers: escaping, value formatting, and the tolerant check tables."""

from __future__ import annotations

from typing import Any

import pytest

from governance.documents import checks_view as view
from governance.documents.render import Builder, block_safe, code, esc, fmt, plain, to_html
from governance.evidence import CheckFact


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
    assert view.mark(check(passed=None, details={"group": "a"})) == "○ too small to judge"


def test_group_tables_show_every_detail_key_known_ones_first() -> None:
    rows = [
        check(subject="sex=f", observed=None, details={"group": "f", "zeta": 1, "tpr": 0.8, "count": 40}),
        check(subject="sex=m", observed=None, passed=None, details={"group": "m", "count": 12, "precision_ci": [0.1, 0.3]}),
    ]
    [(feature, header, body)] = view.group_tables(rows)
    assert feature == "sex"
    assert header == ["Group", "Count", "TPR", "Precision ci", "Zeta", "Result"]
    assert body == [["`f`", "40", "0.8", "—", "1", "✔ pass"], ["`m`", "12", "—", "[0.1, 0.3]", "—", "○ too small to judge"]]


def test_group_tables_group_by_the_feature_detail_or_the_subject() -> None:
    rows = [check(subject="x", details={"group": "a", "feature": "age"}),
            check(subject="sex=f", details={"group": "f"}),
            check(subject="age", details={"group": "b", "feature": "age"})]
    assert [(f, [r[0] for r in body]) for f, _, body in view.group_tables(rows)] == [
        ("age", ["`a`", "`b`"]), ("sex", ["`f`"])]


def test_summary_rows_leave_group_rows_out() -> None:
    header, body = view.summary_rows([check(name="dpd", subject="sex", observed=0.12, threshold={"max": 0.1},
                                            passed=False), check(details={"group": "a"})])
    assert header == ["Check", "Subject", "Observed", "Bound", "Result", "Severity"]
    assert body == [["`dpd`", "`sex`", "0.12", "max: 0.1", "✘ fail", "error"]]
