"""What the dashboard shows: frozen value objects and the pure functions that compute them from records.

`govflow.governance.trail.dashboard_data` has the database sum one system's predictions in a period
(with their payloads' sensitive attributes) and hands the sums to these plain functions (`tally_counts`,
`tally_rates`; over records: `requests_over_time`, `group_rates`), which return frozen value objects,
so every figure can be tested without a database:

* requests over time, per model version;
* the favourable-decision rate per sensitive group over time, and the ratio of the lowest to the
  highest group rate per window (`group_rates`, `rate_ratios`);
* anomaly flags (`Flag`), three rules, all documented on the page too:

  1. **Disparate impact** (critical): in a window, among the groups of one sensitive attribute with
     at least ``policy.fairness.min_group_size`` decisions, ``min rate / max rate`` is below
     ``policy.fairness.disparate_impact_ratio_min`` (default 0.8, the four-fifths rule).
  2. **Sudden shift** (warning): the positive rate, overall or of one group, moves between two
     adjacent windows (both with at least ``min_group_size`` decisions) by at least
     ``shift_min`` (default 0.10) in absolute terms AND a two-proportion z-test gives
     ``|z| >= shift_z`` (default 3.0, two-sided p < 0.003). Both conditions: the z-test alone flags
     tiny moves at high volume, the absolute bound alone flags noise at low volume.
  3. **Serving outside its approval** (critical): a prediction served by a version that was not,
     at that moment, in the ``production`` stage with every role its policy requires approving it
     (the latest approval per role at or before that moment, per the stage and approval history).

A *decision* is read from a prediction's ``output_json`` (`decision_of`): ``{"favourable": bool}``
(the current shape, `govflow.governance.trail.decisions`), else an earlier record's ``{"decision":
0|1}`` (or true/false), else ``{"prediction": v}`` compared with the
system's ``data.positive_label``. Outputs that are none of these (e.g. a recommended item list)
count as requests but not as decisions; their lists feed `govflow.governance.trail.exposure` instead.

Sensitive attributes come from ``prediction_payloads.sensitive_json``; a continuous attribute is
binned with the left-closed ``bins`` of the version's ``data.sensitive_features`` (``[0, 25)``).
Predictions whose payload was purged, or that carry no attribute, count in the volume chart only.
Windows are by default monitoring's own (``monitoring.window``, 7 days, on the grid anchored at
midnight UTC of the system's first prediction: `govflow.governance.trail.dashboard_panels`), so the
dashboard judges the same rows as `govflow run monitor`; a window chosen on the page (``bucket``)
lies on the same grid. A group with fewer than ``min_group_size`` decisions in a window is "too few":
its point is not drawn as a rate and it is neither judged nor flagged. Rates carry a Wilson interval
at ``policy.fairness.confidence_level`` (`wilson`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from statistics import NormalDist
from typing import Any

from govflow.checks.policy import Policy
from govflow.governance.trail.dashboard_windows import WindowGrid
from govflow.governance.trail.decisions import favourable_of
from govflow.governance.trail.exposure import ExposureReport

MISSING = "(not given)"
OUTSIDE = "(outside bins)"


class FlagKind(StrEnum):
    DISPARATE_IMPACT = "disparate_impact"
    RATE_SHIFT = "rate_shift"
    UNAPPROVED_SERVING = "unapproved_serving"


@dataclass(frozen=True)
class Rules:
    """The anomaly rules' parameters (see the module docstring)."""

    ratio_min: float = 0.8  # policy.fairness.disparate_impact_ratio_min
    min_group_size: int = 30  # policy.fairness.min_group_size: smaller counts are not judged
    shift_min: float = 0.10  # smallest absolute change of a positive rate that can be a shift
    shift_z: float = 3.0  # smallest |z| of the two-proportion z-test that can be a shift
    confidence_level: float = 0.95  # policy.fairness.confidence_level: the Wilson bands around group rates
    out_of_domain_max: float = 0.05  # policy.drift.out_of_domain_share_max

    @classmethod
    def from_policy(cls, policy: Policy, **overrides: Any) -> Rules:
        return cls(**{"ratio_min": policy.fairness.disparate_impact_ratio_min,
                      "min_group_size": policy.fairness.min_group_size,
                      "confidence_level": policy.fairness.confidence_level,
                      "out_of_domain_max": policy.drift.out_of_domain_share_max, **overrides})


@dataclass(frozen=True)
class Record:
    """One logged prediction, as the dashboard needs it."""

    served_at: datetime
    version: str  # NAME:VERSION of the model version that served it
    decision: int | None  # 1 favourable, 0 not, None when the output is not a decision
    groups: Mapping[str, str] = field(default_factory=dict)  # attribute -> group label
    items: tuple[str, ...] | None = None  # a recommended list, best first


@dataclass(frozen=True)
class Count:
    """Requests served by one version in one window."""

    window: datetime
    version: str
    requests: int


@dataclass(frozen=True)
class Rate:
    """Favourable decisions of one group (attribute ``""`` and group ``"all"``: overall) in one window."""

    attribute: str
    group: str
    window: datetime
    n: int
    favourable: int

    @property
    def rate(self) -> float:
        return self.favourable / self.n if self.n else math.nan

    def interval(self, confidence: float = 0.95) -> tuple[float, float]:
        """The Wilson score interval of the rate (`wilson`)."""
        return wilson(self.favourable, self.n, confidence)


@dataclass(frozen=True)
class Ratio:
    """The lowest over the highest group rate of one attribute in one window (judged groups only)."""

    attribute: str
    window: datetime
    ratio: float
    lowest: str
    highest: str


@dataclass(frozen=True)
class Flag:
    kind: FlagKind
    severity: str  # critical | warning
    subject: str  # e.g. "sex=female", "all", "credit-scoring:2"
    window: datetime | None  # the window it was seen in (None: the whole period)
    observed: float
    threshold: float
    message: str
    attribute: str = ""  # the sensitive attribute judged ("" for the overall rate or a version)
    group: str = ""  # its group as logged (binned), e.g. "female", "[0, 25)"


@dataclass(frozen=True)
class VersionInfo:
    label: str  # NAME:VERSION
    id: str
    stage: str | None  # current stage
    requests: int  # in the period shown
    out_of_domain: int = 0  # of those, served with an input outside the training range or set

    @property
    def out_of_domain_share(self) -> float | None:
        return self.out_of_domain / self.requests if self.requests else None


@dataclass(frozen=True)
class DashboardData:
    """Everything one system's dashboard page shows, for one period."""

    system: str
    start: datetime
    end: datetime
    bucket: timedelta
    rules: Rules
    total: int  # predictions in the period
    loaded: int  # those counted: every one, or the latest ``max_rows`` when `load_dashboard` was given a bound
    versions: tuple[VersionInfo, ...]
    counts: tuple[Count, ...]
    rates: tuple[Rate, ...]
    ratios: tuple[Ratio, ...]
    flags: tuple[Flag, ...]
    exposure: ExposureReport | None
    anchor: datetime | None = None  # the window grid's origin: monitoring's (midnight of the first prediction)
    window_text: str = ""  # "7d (as monitoring)" when the windows are monitoring's
    sensitive_features: tuple[Any, ...] = ()  # data.sensitive_features of the newest version (names groups)
    panels: Any = None  # `dashboard_panels.Panels`: drift, outcomes, what flags link to
    exposure_sample: int = 0  # the lists `exposure` was computed from: the period's latest (a sample when fewer than all)

    @property
    def truncated(self) -> bool:
        return self.loaded < self.total

    def name(self, attribute: str, group: str) -> str:
        """A group as people read it: its ``labels`` name in the config, else the group as logged."""
        return group_name(attribute, group, self.sensitive_features)

    @property
    def attributes(self) -> list[str]:
        return sorted({r.attribute for r in self.rates if r.attribute})


def wilson(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of a proportion: it stays inside [0, 1] and is honest at small n
    (the normal interval collapses to a point at 0/5 or 5/5). ``(0.0, 1.0)`` when ``n`` is 0.

    >>> [round(x, 3) for x in wilson(8, 10)]
    [0.49, 0.943]
    """
    if n <= 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # exactly 0 (or 1) when nothing (or everything) was favourable, not a rounding error away from it
    return (0.0 if successes == 0 else max(0.0, centre - half)), (1.0 if successes == n else min(1.0, centre + half))


def group_name(attribute: str, group: str, sensitive_features: Sequence[Any]) -> str:
    """`govflow.checks.groups.group_display_label`: the config's name for a group code (or bin)."""
    from govflow.checks.groups import group_display_label

    return group_display_label(attribute, group, list(sensitive_features)) if attribute else group


# -- reading outputs and attributes -------------------------------------------------------------

def decision_of(output: Any, positive_label: Any = None) -> int | None:
    """1 favourable, 0 not, None when the output is not a decision (see the module docstring)."""
    favourable = favourable_of(output)  # either logged shape: the label's own flag first, else the old 0/1
    if favourable is not None:
        return int(favourable)
    if not isinstance(output, Mapping) or "score_of" in output:
        return None
    if positive_label is not None and "prediction" in output:
        return int(output["prediction"] == positive_label or str(output["prediction"]) == str(positive_label))
    return None


def bin_label(value: Any, bins: Sequence[float]) -> str:
    """The left-closed bin ``[a, b)`` a value falls in, e.g. ``bin_label(24, [0, 25, 120]) == "[0, 25)"``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return OUTSIDE
    for low, high in zip(bins, bins[1:]):
        if low <= number < high:
            return f"[{low:g}, {high:g})"
    return OUTSIDE


def group_labels(sensitive: Mapping[str, Any] | None, spec: Mapping[str, Sequence[float] | None]) -> dict[str, str]:
    """Group label per attribute: binned where ``spec`` gives bins, else the value as text."""
    if not sensitive:
        return {}
    labels = {}
    for attribute, value in sensitive.items():
        bins = spec.get(attribute)
        if value is None:
            labels[attribute] = MISSING
        elif bins:
            labels[attribute] = bin_label(value, bins)
        else:
            labels[attribute] = str(value)
    return labels


def sensitive_spec(snapshot: Mapping[str, Any]) -> dict[str, list[float] | None]:
    """Attribute -> bins (or None) from a config snapshot's ``data.sensitive_features``."""
    spec: dict[str, list[float] | None] = {}
    for item in (snapshot.get("data") or {}).get("sensitive_features") or []:
        if isinstance(item, str):
            spec[item] = None
        elif isinstance(item, Mapping) and "column" in item:
            spec[str(item["column"])] = list(item["bins"]) if item.get("bins") else None
    return spec


# -- aggregations (pure) -----------------------------------------------------------------------

def requests_over_time(records: Iterable[Record], bucket: timedelta, anchor: datetime | None = None) -> list[Count]:
    window = WindowGrid(bucket, anchor)
    return tally_counts((window(r.served_at), r.version, 1) for r in records)


def group_rates(records: Iterable[Record], bucket: timedelta, anchor: datetime | None = None) -> list[Rate]:
    """Favourable rate per window overall (attribute ``""``, group ``all``) and per attribute and group."""
    window = WindowGrid(bucket, anchor)
    return tally_rates((window(r.served_at), r.decision, r.groups, 1) for r in records)


def tally_counts(counted: Iterable[tuple[datetime, str, int]]) -> list[Count]:
    """`Count` per (window, version) from ``(window, version, requests)``, in order."""
    counts: dict[tuple[datetime, str], int] = defaultdict(int)
    for window, version, n in counted:
        counts[(window, version)] += n
    return [Count(w, v, n) for (w, v), n in sorted(counts.items())]


def tally_rates(decided: Iterable[tuple[datetime, int | None, Mapping[str, str], int]]) -> list[Rate]:
    """`Rate` per (attribute, group, window) from ``(window, decision, groups, how many)``, in order."""
    n: dict[tuple[str, str, datetime], int] = defaultdict(int)
    fav: dict[tuple[str, str, datetime], int] = defaultdict(int)
    for w, decision, groups, count in decided:
        if decision is None:
            continue
        for a, g in [("", "all")] + [(a, g) for a, g in groups.items() if g not in (MISSING, OUTSIDE)]:
            n[(a, g, w)] += count
            fav[(a, g, w)] += decision * count
    return [Rate(a, g, w, n[(a, g, w)], fav[(a, g, w)]) for (a, g, w) in sorted(n)]


def rate_ratios(rates: Iterable[Rate], min_group_size: int) -> list[Ratio]:
    """Per attribute and window: min rate / max rate over the groups with at least ``min_group_size``."""
    judged: dict[tuple[str, datetime], list[Rate]] = defaultdict(list)
    for r in rates:
        if r.attribute and r.n >= min_group_size:
            judged[(r.attribute, r.window)].append(r)
    out = []
    for (attribute, window), group in sorted(judged.items()):
        if len(group) < 2:
            continue
        low = min(group, key=lambda r: (r.rate, r.group))
        high = max(group, key=lambda r: (r.rate, r.group))
        ratio = low.rate / high.rate if high.rate > 0 else 1.0  # nobody favoured: no disparity in rates
        out.append(Ratio(attribute, window, ratio, low.group, high.group))
    return out


def two_proportion_z(x1: int, n1: int, x2: int, n2: int) -> float:
    """z of the pooled two-proportion test for p2 - p1 (0.0 when the pooled rate is 0 or 1)."""
    pooled = (x1 + x2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    return 0.0 if variance <= 0 else (x2 / n2 - x1 / n1) / math.sqrt(variance)


def fairness_flags(rates: Sequence[Rate], ratios: Iterable[Ratio], bucket: timedelta, rules: Rules,
                   name: Callable[[str, str], str] = lambda attribute, group: group) -> list[Flag]:
    """Rules 1 and 2 of the module docstring; ``name(attribute, group)`` is how a group is written for people."""
    flags = []
    by_key = {(r.attribute, r.group, r.window): r for r in rates}
    for ratio in ratios:
        if ratio.ratio < rules.ratio_min:
            low = by_key[(ratio.attribute, ratio.lowest, ratio.window)]
            high = by_key[(ratio.attribute, ratio.highest, ratio.window)]
            lowest, highest = name(ratio.attribute, ratio.lowest), name(ratio.attribute, ratio.highest)
            flags.append(Flag(
                FlagKind.DISPARATE_IMPACT, "critical", f"{ratio.attribute}={ratio.lowest}", ratio.window,
                round(ratio.ratio, 4), rules.ratio_min,
                f"{ratio.attribute}: favourable rate of {lowest} {low.rate:.2f} (n={low.n}) is "
                f"{ratio.ratio:.2f} of {highest}'s {high.rate:.2f} (n={high.n}), below the policy "
                f"bound {rules.ratio_min:g}", ratio.attribute, ratio.lowest))
    series: dict[tuple[str, str], list[Rate]] = defaultdict(list)
    for r in rates:
        series[(r.attribute, r.group)].append(r)
    for (attribute, group), points in sorted(series.items()):
        points.sort(key=lambda r: r.window)
        for before, after in zip(points, points[1:]):
            if after.window - before.window != bucket or min(before.n, after.n) < rules.min_group_size:
                continue
            change = after.rate - before.rate
            z = two_proportion_z(before.favourable, before.n, after.favourable, after.n)
            if abs(change) >= rules.shift_min and abs(z) >= rules.shift_z:
                subject = f"{attribute}={group}" if attribute else "all"
                shown = f"{attribute}={name(attribute, group)}" if attribute else "all"
                flags.append(Flag(
                    FlagKind.RATE_SHIFT, "warning", subject, after.window, round(change, 4), rules.shift_min,
                    f"{shown}: favourable rate moved from {before.rate:.2f} (n={before.n}) to "
                    f"{after.rate:.2f} (n={after.n}) between adjacent windows (change {change:+.2f}, "
                    f"z = {z:.1f}; flagged at |change| >= {rules.shift_min:g} and |z| >= {rules.shift_z:g})",
                    attribute, "" if not attribute else group))
    return flags


def approved_intervals(stages: Sequence[tuple[datetime, str]], approvals: Sequence[tuple[datetime, str, str]],
                       required_roles: Sequence[str]) -> list[tuple[datetime, datetime | None]]:
    """The periods a version was allowed to serve: in production, every required role approving.

    ``stages`` are ``(at, stage)`` and ``approvals`` ``(decided_at, role, decision)``, each in the
    order they were recorded; the latest change at or before a moment is the one in force then.
    An interval's end is None while it is still open.
    """
    events = sorted([(at, 0, i, ("stage", stage, "")) for i, (at, stage) in enumerate(stages)]
                    + [(at, 1, i, ("approval", role, decision)) for i, (at, role, decision) in enumerate(approvals)])
    stage: str | None = None
    in_force: dict[str, str] = {}
    intervals: list[tuple[datetime, datetime | None]] = []
    opened: datetime | None = None
    for at, _, _, (kind, name, decision) in events:
        if kind == "stage":
            stage = name
        else:
            in_force[name] = decision
        allowed = stage == "production" and all(in_force.get(r) == "approve" for r in required_roles)
        if allowed and opened is None:
            opened = at
        elif not allowed and opened is not None:
            intervals.append((opened, at))
            opened = None
    if opened is not None:
        intervals.append((opened, None))
    return intervals
