"""The charts of the documents, from recorded results: fairness by group, drift by column, group sizes.

Each function takes what the ledger recorded (per-group values, check facts, the policy in force, the
config's ``data.sensitive_features`` for group names) and returns an SVG chart from
`govflow.governance.reports.documents.charts`, or None when the records hold nothing to draw.

Fairness: one row per group, one panel each for the selection rate, the TPR and the FPR. Whiskers are
95 % Wilson score intervals from the group's counts (the count for the selection rate, the rows with
the favourable label for the TPR, those without for the FPR); where a record predates those counts,
the interval recorded with the result is drawn instead, and the caption says so. The dashed line is
the policy's bound, drawn where it applies to each group: every judged group must be within the
policy's difference of the highest judged group (``max - d``), and for the selection rate also at
least the disparate-impact ratio of it (``max * r``); a group left of the line breaks the bound.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from govflow.checks.groups import group_display_label
from govflow.governance.reports.documents.charts import Bar, Panel, bar_chart, wilson_interval
from govflow.governance.reports.evidence import CheckFact

METRICS = (("selection_rate", "Selection rate", "count"), ("tpr", "TPR", "positives"), ("fpr", "FPR", "negatives"))
P_VALUE_FLOOR = 1e-4  # p-values below are drawn at the axis' left edge (they are all "drift")


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _interval(values: Mapping[str, Any], metric: str, denominator: str) -> tuple[tuple[float, float] | None, str]:
    """The whisker of a group's metric, and which kind it is (wilson | recorded | '')."""
    rate, n = _number(values.get(metric)), _number(values.get(denominator))
    if rate is not None and n is not None and n > 0:
        return wilson_interval(round(rate * n), n), "wilson"
    recorded = values.get(f"{metric}_ci")
    if isinstance(recorded, Sequence) and len(recorded) == 2 and all(_number(v) is not None for v in recorded):
        return (float(recorded[0]), float(recorded[1])), "recorded"
    return None, ""


def _bound(metric: str, judged: list[float], fairness: Mapping[str, Any]) -> tuple[float | None, str]:
    """Where the policy puts the lowest acceptable value of a metric, given the highest judged group: the
    stricter of ``max - d`` and, for the selection rate, ``max * r``."""
    if len(judged) < 2:
        return None, ""
    top = max(judged)
    gap = _number(fairness.get("demographic_parity_difference_max" if metric == "selection_rate"
                               else "equalized_odds_difference_max"))
    candidates = [top - gap] if gap is not None else []
    ratio = _number(fairness.get("disparate_impact_ratio_min")) if metric == "selection_rate" else None
    if ratio is not None:
        candidates.append(top * ratio)
    if not candidates:
        return None, ""
    return max(candidates), f"bound {max(candidates):.3g}"


def fairness_chart(feature: str, groups: Sequence[tuple[str, Mapping[str, Any]]], fairness: Mapping[str, Any],
                   specs: Any = None) -> tuple[str, str] | None:
    """(svg, caption) of one feature's groups: ``groups`` is (group, every value recorded for it)."""
    rows = [(g, v) for g, v in groups if any(_number(v.get(m)) is not None for m, _, _ in METRICS)]
    if not rows:
        return None
    kinds: set[str] = set()
    panels = []
    for metric, title, denominator in METRICS:
        judged = [float(v[metric]) for _, v in rows if v.get("judged") is not False and _number(v.get(metric)) is not None]
        bound, text = _bound(metric, judged, fairness)
        bars = []
        for group, values in rows:
            value = _number(values.get(metric))
            interval, kind = _interval(values, metric, denominator)
            kinds.add(kind)
            small = values.get("judged") is False
            alert = not small and bound is not None and value is not None and value < bound - 1e-12
            count = values.get("count")
            bars.append(Bar(group_display_label(feature, group, specs), value, interval,
                            tone="muted" if small else "alert" if alert else "normal",
                            note=(f"n={count:,}" if isinstance(count, int) else "") + (", too small" if small else "")))
        panels.append(Panel(title, tuple(bars), bound, text))
    whiskers = {"wilson": "95 % Wilson score intervals from the group counts",
                "recorded": "the intervals recorded with the result"}
    drawn = [whiskers[k] for k in ("wilson", "recorded") if k in kinds]
    caption = (f"Selection rate, TPR and FPR by group of {feature}. Whiskers: {' where recorded, else '.join(drawn) or 'none recorded'}. "
               "Dashed line: the policy bound (the stricter of the highest judged group's value less the policy's "
               "difference and, for the selection rate, times its disparate-impact ratio); a group left of it "
               "breaks the bound (red); grey: too small to judge.")
    return bar_chart(f"Fairness by group of {feature}", panels), caption


def drift_charts(results: Sequence[CheckFact]) -> list[tuple[str, str]]:
    """(svg, caption) per kind of drift score (p-values, distances) of per-column drift results."""
    by_kind: dict[str, list[CheckFact]] = {}
    for c in results:
        if c.kind == "drift" and _number(c.observed) is not None and _number(c.threshold) is not None:
            by_kind.setdefault(str(c.details.get("score_kind") or "distance"), []).append(c)
    charts = []
    for kind, found in sorted(by_kind.items(), reverse=True):  # p_value first
        thresholds = {float(c.threshold) for c in found}
        common = thresholds.pop() if len(thresholds) == 1 else None
        bars = tuple(Bar(c.subject, float(c.observed), tone="alert" if c.passed is False else "normal",
                         note=str(c.details.get("method") or ""), bound=None if common is not None else float(c.threshold))
                     for c in found)
        if kind == "p_value":
            panel = Panel("p-value (log scale)", bars, common, f"threshold {common:g}" if common is not None else "",
                          scale="log", domain=(P_VALUE_FLOOR, 1.0))
            caption = "Drift test p-value per column: drift when the bar ends left of the red threshold line (red bars)."
        else:
            top = max([*(float(c.observed) for c in found), *(float(c.threshold) for c in found)])
            panel = Panel("distance", bars, common, f"threshold {common:g}" if common is not None else "",
                          domain=(0.0, max(0.2, round(top * 1.15, 2))))
            caption = "Drift distance per column: drift at or right of the red threshold line (red bars)."
        charts.append((bar_chart(f"Drift per column ({kind.replace('_', '-')})", [panel]), caption))
    return charts


def group_size_chart(feature: str, counts: Sequence[tuple[str, int]], min_size: Any, specs: Any = None
                     ) -> tuple[str, str] | None:
    """(svg, caption) of how many rows of a data set fall in each group, against the policy's minimum."""
    if not counts:
        return None
    minimum = _number(min_size)
    top = max([*(n for _, n in counts), minimum or 0])
    bars = tuple(Bar(group_display_label(feature, g, specs), float(n), note=f"n={n:,}",
                     tone="muted" if minimum is not None and n < minimum else "normal") for g, n in counts)
    panel = Panel("rows", bars, minimum, f"min_group_size {minimum:g}" if minimum is not None else "",
                  domain=(0.0, float(top) * 1.05 or 1.0))
    caption = (f"Rows per group of {feature} in this data set. Dashed line: the policy's minimum group size "
               "(policy.fairness.min_group_size); a smaller group (grey) is reported but not judged.")
    return bar_chart(f"Rows per group of {feature}", [panel]), caption


def fairness_figures(checks: Sequence[CheckFact], table: Sequence[Mapping[str, Any]], policy: Mapping[str, Any],
                     specs: Any = None) -> dict[str, tuple[str, str]]:
    """Feature -> (svg, caption) of its fairness chart, for every feature with per-group rates recorded."""
    from govflow.governance.reports.documents.checks_view import by_feature

    found_policy = policy.get("fairness")
    fairness: Mapping[str, Any] = found_policy if isinstance(found_policy, Mapping) else {}
    found: dict[str, tuple[str, str]] = {}
    for feature, rows in by_feature(checks, table).items():
        chart = fairness_chart(feature, [(group, values) for group, _, values in rows], fairness, specs)
        if chart is not None:
            found[feature] = chart
    return found
