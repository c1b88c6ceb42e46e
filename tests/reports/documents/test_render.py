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
    assert view.mark(check(passed=True)) == "**PASS**"
    assert view.mark(check(passed=False)) == "**FAIL**"
    assert view.mark(check(passed=None)) == "**NOT JUDGED**"
    assert view.mark(check(name="group_size", passed=True, details={"group": "a", "status": "judged"})) == "**JUDGED**"
    assert view.mark(check(name="group_size", passed=None, details={"group": "a"})) == "**TOO SMALL TO JUDGE**"
    assert view.mark(check(name="roc_auc", passed=False, details={"group": "a"})) == "**FAIL**"


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
    # Group sizes against the one minimum only: the count and the result say it, no "Bound" column.
    assert header == ["Group", "Count", "Selection rate", "TPR", "Precision ci", "Zeta", "Result"]
    assert body == [
        ["`f`", "40", "0.5", "0.8", "—", "1", "**JUDGED**"],
        ["`m`", "12", "—", "—", "[0.1, 0.3]", "—", "**TOO SMALL TO JUDGE**"],
        ["`x`", "3", "—", "—", "—", "—", "**TOO SMALL TO JUDGE**"],
    ]


def test_group_tables_show_intervals_in_their_metric_cells_and_groups_by_their_names() -> None:
    table = [{"feature": "RAC1P", "group": "1", "count": 900, "judged": True, "positives": 500, "negatives": 400,
              "selection_rate": 0.62, "selection_rate_ci": [0.6, 0.64], "tpr": 0.8, "tpr_ci": [0.77, 0.83]},
             {"feature": "RAC1P", "group": "9", "count": 40, "judged": True, "selection_rate": 0.5,
              "selection_rate_ci": [0.35, 0.65], "tpr": 0.7, "tpr_ci": None}]
    specs = [{"column": "RAC1P", "labels": {"1": "White"}}]
    [(_, header, body)] = view.group_tables([], table, specs)
    assert header == ["Group", "Count", "Selection rate", "TPR", "Result"]  # no interval columns, no denominators
    assert body == [["White (`1`)", "900", "0.62 (0.6–0.64)", "0.8 (0.77–0.83)", "**JUDGED**"],
                    ["`9`", "40", "0.5 (0.35–0.65)", "0.7", "**JUDGED**"]]
    page = to_html("| v |\n|---|\n| 0.62 (0.6–0.64) |", "t")
    assert '<td>0.62 <span class="ci">(0.6–0.64)</span></td>' in page  # an interval never wraps inside


def test_badges_in_html_are_coloured_words_not_icons() -> None:
    page = to_html("| Result |\n|---|\n| **FAIL** |\n\n**PASS** and **pass** and **TOO SMALL TO JUDGE**", "t")
    assert '<td><strong class="badge badge-fail">FAIL</strong></td>' in page
    assert '<strong class="badge badge-pass">PASS</strong> and <strong>pass</strong>' in page
    assert '<strong class="badge badge-muted">TOO SMALL TO JUDGE</strong>' in page
    assert ".badge-fail {" in page and "print-color-adjust: exact" in page
    assert not any(icon in page for icon in "✔✘○⚠✅❌")


def test_identifiers_wrap_only_between_words() -> None:
    page = to_html("`personal_status` `demographic_parity_difference` `" + "ab" * 32 + "`", "t")
    assert "<code>personal_status</code>" in page  # short enough: never wrapped
    assert "<code>demographic_<wbr>parity_<wbr>difference</code>" in page  # at a word edge, if at all
    assert '<code class="hash">' + "ab" * 32 + "</code>" in page  # a hash may break anywhere (CSS)
    # "anywhere" on every code span squeezed a column until a metric name showed a few characters per line
    assert "code { font: .86em ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #f1f4f7;\n" \
           "       padding: .05rem .25rem; border-radius: 3px; overflow-wrap: break-word; }" in page


def test_a_figure_is_inline_svg_in_html_and_its_caption_in_markdown() -> None:
    b = Builder("doc")
    b.figure('<svg class="chart"><title>c</title></svg>', "Rates of <group> `x`")
    markdown = b.markdown()
    assert markdown == "**Figure 1.** Rates of \\<group> \\`x\\` *(a chart in the HTML form)*\n"
    page = to_html(markdown, "t", b.figures)
    assert ('<figure><svg class="chart"><title>c</title></svg><figcaption><strong>Figure 1.'
            '</strong> Rates of &lt;group&gt; `x`</figcaption></figure>') in page


def test_group_tables_without_the_stored_table_show_what_the_results_hold() -> None:
    [(_, header, body)] = view.group_tables([group_size("age", "[0, 25)", 52, status="judged")])
    assert header == ["Group", "Count", "Result"]
    assert body == [["`[0, 25)`", "52", "**JUDGED**"]]


def test_per_group_results_of_other_checks_get_a_row_each() -> None:
    rows = [check(name="roc_auc", subject="sex=f", observed=0.71, threshold=0.7, details={"feature": "sex", "group": "f",
                                                                                         "count": 40, "bound": "min"}),
            check(name="accuracy", subject="sex=f", observed=0.6, threshold=0.65, passed=False,
                  details={"feature": "sex", "group": "f", "count": 40, "bound": "min"})]
    [(_, header, body)] = view.group_tables(rows)
    assert header == ["Group", "Count", "Check", "Observed", "Bound", "Result"]
    assert body == [["`f`", "40", "`roc_auc`", "0.71", "≥ 0.7", "**PASS**"],
                    ["`f`", "40", "`accuracy`", "0.6", "≥ 0.65", "**FAIL**"]]


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
    assert body == [["`demographic_parity_difference`", "`sex`", "0.12", "[0.05, 0.2]", "≤ 0.1", "**FAIL**", "error",
                     "excluded_groups: m"]]
