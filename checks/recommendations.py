"""Anomalies in what a recommender recommends: pure arithmetic over logged lists, typed results out.

Four checks over one window of logged recommendation lists (each list with its user's sensitive groups):

* ``exposure_disparity`` (fairness), per sensitive attribute: each group's *novelty*, the
  position-weighted (``1 / log2(rank + 1)``, as `govflow.governance.trail.exposure`) mean popularity
  percentile of the items it is shown (0: the most rated item of the reference, 1: the least); the
  ratio of the lowest group's novelty to the highest's must be at least ``policy.exposure.ratio_min``
  (0.8 by default: the four-fifths rule applied to who gets to discover the catalogue beyond its
  best-sellers). A mean over every slot, not the share of rare items: steady on a few hundred lists.
  Groups with fewer than ``min_lists`` lists are not judged.
* ``catalogue_coverage`` (drift): distinct items recommended / catalogue size, against the version's
  reference; fails when it falls by more than ``coverage_drop_max`` (relative, default 0.2).
* ``popularity_gini`` (drift): the Gini coefficient of how often each catalogue item was recommended
  (0: every item equally, 1: one item only), against the reference; fails when it rises by more than
  ``gini_rise_max`` (absolute, default 0.05).
* ``recommendation_shift`` (drift): the total variation distance between this window's and the
  previous window's (or the reference's) exposure across item popularity deciles (deciles of the
  reference's popularity ranking); fails above ``shift_max`` (default 0.2). Deciles, not items: with a
  few thousand lists over thousands of items, two samples of the same recommender differ item by item
  by chance, but barely decile by decile.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from govflow.checks.results import CheckKind, CheckResult, Severity

DECILES = 10


@dataclass(frozen=True)
class Bounds:
    """The policy bounds of the four checks (``policy.exposure`` and ``policy.recommendations``)."""

    ratio_min: float = 0.8
    coverage_drop_max: float = 0.2
    gini_rise_max: float = 0.05
    shift_max: float = 0.2
    min_lists: int = 30


@dataclass(frozen=True)
class ListWindow:
    """The lists of one window: each a tuple of item ids (best first) and the user's groups."""

    lists: tuple[tuple[str, ...], ...]
    groups: tuple[Mapping[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.groups and len(self.groups) != len(self.lists):
            raise ValueError("groups: one mapping per list, or none")


@dataclass(frozen=True)
class Reference:
    """What the version recommended when it was approved, and the popularity of the catalogue."""

    catalogue: tuple[str, ...]
    popularity: Mapping[str, int]  # item -> ratings in the training data
    coverage: float
    gini: float
    deciles: tuple[float, ...]  # exposure share per popularity decile


def _weight(rank: int) -> float:
    return 1.0 / math.log2(rank + 1)


def gini(counts: Sequence[float]) -> float:
    """Gini coefficient of non-negative counts (0 equal, -> 1 concentrated); 0 for none."""
    values = sorted(float(c) for c in counts)
    n, total = len(values), sum(values)
    if n == 0 or total == 0:
        return 0.0
    weighted = sum((i + 1) * v for i, v in enumerate(values))
    return (2 * weighted) / (n * total) - (n + 1) / n


def percentiles(popularity: Mapping[str, int]) -> dict[str, float]:
    """Each item's popularity percentile rank: 0 the most rated, 1 the least (ties by id)."""
    ranked = sorted(popularity, key=lambda i: (-popularity[i], i))
    last = max(1, len(ranked) - 1)
    return {item: rank / last for rank, item in enumerate(ranked)}


def _decile_of(popularity: Mapping[str, int]) -> dict[str, int]:
    ranked = sorted(popularity, key=lambda i: (-popularity[i], i))
    return {item: min(DECILES - 1, DECILES * rank // max(1, len(ranked))) for rank, item in enumerate(ranked)}


def decile_shares(lists: Iterable[Sequence[str]], popularity: Mapping[str, int]) -> tuple[float, ...]:
    """Exposure share per popularity decile (0 = most popular); items unknown to the reference count last."""
    decile = _decile_of(popularity)
    totals = [0.0] * DECILES
    for items in lists:
        for rank, item in enumerate(items, start=1):
            totals[decile.get(item, DECILES - 1)] += _weight(rank)
    whole = sum(totals)
    return tuple(t / whole if whole else 0.0 for t in totals)


def reference_of(lists: Sequence[Sequence[str]], catalogue: Sequence[str], popularity: Mapping[str, int]) -> Reference:
    """The reference of a version: its lists for the users it was approved on."""
    counts = _counts(lists, catalogue)
    return Reference(catalogue=tuple(catalogue), popularity=dict(popularity),
                     coverage=sum(1 for c in counts if c) / max(1, len(catalogue)), gini=gini(counts),
                     deciles=decile_shares(lists, popularity))


def _counts(lists: Iterable[Sequence[str]], catalogue: Sequence[str]) -> list[int]:
    seen: dict[str, int] = dict.fromkeys(catalogue, 0)
    for items in lists:
        for item in items:
            seen[item] = seen.get(item, 0) + 1
    return list(seen.values())


def novelty_by_group(window: ListWindow, popularity: Mapping[str, int]) -> dict[str, dict[str, tuple[float, int]]]:
    """attribute -> group -> (its position-weighted mean popularity percentile, its lists).

    An item the reference never saw counts as the least popular (percentile 1)."""
    percentile = percentiles(popularity)
    novel: dict[tuple[str, str], float] = defaultdict(float)
    whole: dict[tuple[str, str], float] = defaultdict(float)
    lists: dict[tuple[str, str], int] = defaultdict(int)
    for items, groups in zip(window.lists, window.groups):
        for attribute, group in groups.items():
            key = (attribute, str(group))
            lists[key] += 1
            for rank, item in enumerate(items, start=1):
                whole[key] += _weight(rank)
                novel[key] += _weight(rank) * percentile.get(item, 1.0)
    out: dict[str, dict[str, tuple[float, int]]] = defaultdict(dict)
    for (attribute, group), total in sorted(whole.items()):
        out[attribute][group] = (novel[(attribute, group)] / total if total else 0.0, lists[(attribute, group)])
    return dict(out)


def _disparity(window: ListWindow, reference: Reference, bounds: Bounds) -> list[CheckResult]:
    results = []
    for attribute, groups in novelty_by_group(window, reference.popularity).items():
        judged = {g: share for g, (share, n) in groups.items() if n >= bounds.min_lists}
        details = {"novelty": {g: round(s, 6) for g, (s, _) in groups.items()},
                   "lists": {g: n for g, (_, n) in groups.items()}}
        if len(judged) < 2:
            results.append(CheckResult(kind=CheckKind.FAIRNESS, name="exposure_disparity", subject=attribute,
                                       observed=None, threshold=bounds.ratio_min, passed=None,
                                       severity=Severity.CRITICAL, details={**details, "why": "fewer than two groups "
                                       f"with {bounds.min_lists} lists"}))
            continue
        low, high = min(judged.values()), max(judged.values())
        ratio = low / high if high else 1.0
        results.append(CheckResult(kind=CheckKind.FAIRNESS, name="exposure_disparity", subject=attribute,
                                   observed=ratio, threshold=bounds.ratio_min, passed=ratio >= bounds.ratio_min,
                                   severity=Severity.CRITICAL, details={
                                       **details, "lowest": min(judged, key=lambda g: judged[g]),
                                       "highest": max(judged, key=lambda g: judged[g])}))
    return results


def check_window(window: ListWindow, reference: Reference, bounds: Bounds = Bounds(), *,
                 previous: ListWindow | None = None) -> tuple[CheckResult, ...]:
    """The four checks of one window (see the module docstring); not judged below ``bounds.min_lists`` lists."""
    enough = len(window.lists) >= bounds.min_lists
    counts = _counts(window.lists, reference.catalogue)
    coverage = sum(1 for c in counts if c) / max(1, len(reference.catalogue))
    concentration = gini(counts)
    before = (decile_shares(previous.lists, reference.popularity)
              if previous is not None and len(previous.lists) >= bounds.min_lists else reference.deciles)
    now = decile_shares(window.lists, reference.popularity)
    shift = 0.5 * sum(abs(a - b) for a, b in zip(now, before))
    floor = reference.coverage * (1 - bounds.coverage_drop_max)
    ceiling = reference.gini + bounds.gini_rise_max
    facts = {"lists": len(window.lists)}
    results = [
        CheckResult(kind=CheckKind.DRIFT, name="catalogue_coverage", subject="recommended items", observed=coverage,
                    threshold=floor, passed=(coverage >= floor) if enough else None, severity=Severity.CRITICAL,
                    details={**facts, "reference": reference.coverage}),
        CheckResult(kind=CheckKind.DRIFT, name="popularity_gini", subject="recommended items", observed=concentration,
                    threshold=ceiling, passed=(concentration <= ceiling) if enough else None,
                    severity=Severity.CRITICAL, details={**facts, "reference": reference.gini}),
        CheckResult(kind=CheckKind.DRIFT, name="recommendation_shift", subject="popularity deciles", observed=shift,
                    threshold=bounds.shift_max, passed=(shift <= bounds.shift_max) if enough else None,
                    severity=Severity.CRITICAL, details={**facts, "deciles": [round(s, 6) for s in now],
                                                         "compared_with": "previous window" if previous is not None
                                                         and before is not reference.deciles else "reference"}),
    ]
    if window.groups:
        results += _disparity(window, reference, bounds)
    return tuple(results)
