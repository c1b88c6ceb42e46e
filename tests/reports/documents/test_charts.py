"""Inline SVG charts: valid SVG, one bar per row and panel, whiskers for intervals, the bound as a line."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from govflow.governance.reports.documents.charts import Bar, Panel, bar_chart, wilson_interval
from govflow.governance.reports.documents.figures import drift_charts, fairness_chart, group_size_chart
from govflow.governance.reports.evidence import CheckFact

SVG = ""  # inline in HTML, the charts carry no namespace


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # raises on anything that is not well-formed XML
    assert root.tag == f"{SVG}svg"
    return root


def having(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if e.get("class") == cls]


@pytest.mark.parametrize(("successes", "n", "expected"), [
    (8, 10, (0.4902, 0.9433)),  # Wilson (1927), as in Newcombe (1998), Table I
    (0, 10, (0.0, 0.2775)),  # not empty at 0 successes, unlike the normal approximation
    (10, 10, (0.7225, 1.0)),
    (81, 263, (0.2553, 0.3662)),  # Newcombe (1998) example 81/263: 0.2553 to 0.3662
])
def test_wilson_interval(successes: int, n: int, expected: tuple[float, float]) -> None:
    assert wilson_interval(successes, n) == expected


def test_wilson_interval_refuses_no_observations() -> None:
    with pytest.raises(ValueError, match="n must be positive"):
        wilson_interval(0, 0)


def test_bar_chart_has_a_bar_per_row_and_panel_whiskers_and_bound_lines() -> None:
    rows = [("White", 0.62, (0.6, 0.64)), ("Black & <b>", 0.48, (0.41, 0.55)), ("Asian", None, None)]
    panels = [Panel(t, tuple(Bar(label, value, interval) for label, value, interval in rows), bound=0.52)
              for t in ("Selection rate", "TPR")]
    root = parse(bar_chart("Fairness by group of RAC1P", panels, caption="caption & more"))
    assert root.findtext(f"{SVG}title", "") == "Fairness by group of RAC1P"
    groups = having(root, "panel")
    assert [g.get("data-title") for g in groups] == ["Selection rate", "TPR"]
    for panel in groups:
        assert len(having(panel, "bar")) == 2  # the group with nothing measured keeps its row, without a bar
        assert len(having(panel, "whisker")) == 2
        assert len(having(panel, "bound")) == 1
    labels = ["".join(t.itertext()) for t in root.findall(f"{SVG}text")]
    assert labels[:3] == ["White", "Black & <b>", "Asian"]  # escaped on the way in, read back as written


def test_a_long_label_wraps_at_a_word_not_mid_word() -> None:
    label = "female : divorced/separated/married & two or more races"
    root = parse(bar_chart("t", [Panel("p", (Bar(label, 0.5),))]))
    lines = [span.text for span in root.iter(f"{SVG}tspan") if span.text and span.text.strip()]
    assert " ".join(lines) == label and len(lines) == 2


def test_a_chart_needs_bars_and_equal_rows() -> None:
    with pytest.raises(ValueError, match="at least one bar"):
        bar_chart("t", [Panel("p", ())])
    with pytest.raises(ValueError, match="one bar per row"):
        bar_chart("t", [Panel("p", (Bar("a", 1),)), Panel("q", ())])


def test_fairness_chart_draws_every_group_with_wilson_whiskers_and_the_policy_bound() -> None:
    groups = [("1", {"count": 900, "positives": 500, "negatives": 400, "judged": True,
                     "selection_rate": 0.62, "tpr": 0.8, "fpr": 0.4}),
              ("2", {"count": 100, "positives": 50, "negatives": 50, "judged": True,
                     "selection_rate": 0.45, "tpr": 0.66, "fpr": 0.2}),
              ("4", {"count": 3, "positives": 1, "negatives": 2, "judged": False,
                     "selection_rate": 0.33, "tpr": 1.0, "fpr": 0.0})]
    policy = {"demographic_parity_difference_max": 0.1, "disparate_impact_ratio_min": 0.8,
              "equalized_odds_difference_max": 0.1}
    specs = [{"column": "RAC1P", "labels": {1: "White", 2: "Black", 4: "Alaska Native"}}]
    found = fairness_chart("RAC1P", groups, policy, specs)
    assert found is not None
    svg, caption = found
    root = parse(svg)
    panels = having(root, "panel")
    assert [p.get("data-title") for p in panels] == ["Selection rate", "TPR", "FPR"]
    for panel in panels:
        bars = having(panel, "bar")
        assert len(bars) == len(groups) and len(having(panel, "whisker")) == len(groups)
        assert len(having(panel, "bound")) == 1
    # The bound of the selection rate: the stricter of 0.62 - 0.1 and 0.62 * 0.8; Black (0.45) is below it.
    selection = panels[0]
    assert "bound 0.52" in "".join(selection.itertext())
    assert [b.get("fill") for b in having(selection, "bar")] == ["#3b6ea8", "#b42318", "#b8c2cc"]
    assert {"White", "Black", "Alaska Native"} <= {t.text for t in root.iter(f"{SVG}tspan")}
    assert "95 % Wilson score intervals" in caption


def test_fairness_chart_without_counts_draws_the_recorded_intervals() -> None:
    groups = [("f", {"count": 93, "selection_rate": 0.63, "selection_rate_ci": [0.54, 0.73]}),
              ("m", {"count": 193, "selection_rate": 0.70, "selection_rate_ci": [0.64, 0.77]})]
    svg, caption = fairness_chart("sex", groups, {}) or ("", "")
    panel = having(parse(svg), "panel")[0]
    assert len(having(panel, "whisker")) == 2  # selection rate: Wilson from the count
    assert len(having(having(parse(svg), "panel")[1], "whisker")) == 0  # no TPR recorded: no whisker
    assert not having(parse(svg), "bound")  # no policy given: no line
    assert fairness_chart("sex", [("f", {"count": 3})], {}) is None  # no rate recorded: nothing to draw


def fact(column: str, score: float, threshold: float, passed: bool, kind: str) -> CheckFact:
    return CheckFact(id=column, run_id="r", task="drift", phase="monitor", kind="drift", name="column_drift",
                     subject=column, passed=passed, observed=score, threshold=threshold, severity="warning",
                     details={"score_kind": kind, "method": "K-S p_value" if kind == "p_value" else "Wasserstein"})


def test_drift_charts_one_per_score_kind_with_the_threshold_line() -> None:
    results = [fact("AGEP", 0.001, 0.05, False, "p_value"), fact("SCHL", 0.4, 0.05, True, "p_value"),
               fact("income", 0.25, 0.1, False, "distance")]
    (p_values, _), (distances, caption) = drift_charts(results)
    for svg, n in ((p_values, 2), (distances, 1)):
        root = parse(svg)
        assert len(having(root, "bar")) == n and len(having(root, "bound")) == 1
    assert [b.get("fill") for b in having(parse(p_values), "bar")] == ["#b42318", "#3b6ea8"]
    assert "at or right of the red threshold line" in caption


def test_group_size_chart_marks_the_minimum_group_size() -> None:
    svg, _ = group_size_chart("RAC1P", [("1", 16812), ("4", 1)], 30, [{"column": "RAC1P", "labels": {1: "White"}}]) \
        or ("", "")
    root = parse(svg)
    assert len(having(root, "bar")) == 2 and len(having(root, "bound")) == 1
    assert "min_group_size 30" in "".join(root.itertext())
