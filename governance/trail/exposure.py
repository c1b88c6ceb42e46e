"""Exposure of recommended items, by user group: who is shown what, from the logged lists.

A recommendation list gives its items *exposure*, more at the top than further down. govflow uses
the usual logarithmic position discount (as in DCG): the item at rank ``k`` (1 = first) gets

    weight(k) = 1 / log2(k + 1)        (1, 0.631, 0.5, 0.431, ...)

The exposure of item ``i`` in group ``g`` is the sum of its weights over the lists served to users
of ``g``; its *share* is that over the group's total, so shares of a group sum to 1 and groups of
different sizes compare. For each sensitive attribute (gender, age band, ...) and group the report
gives the share per item, per item category when a catalogue is given (an item's weight is split
equally among its categories of a dimension, e.g. its genres), and the total variation distance
between the group's item shares and everyone's (0: shown the same things, 1: nothing in common).

Examples
--------
Two users, lists ``[a, b]`` for a woman and ``[b, c]`` for a man: the woman's shares are
``a: 1/1.631 = 0.613, b: 0.387``; the man's ``b: 0.613, c: 0.387``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class Listed(Protocol):
    """What `exposure_by_group` needs of a logged prediction."""

    @property
    def groups(self) -> Mapping[str, str]: ...

    @property
    def items(self) -> tuple[str, ...] | None: ...


def weight(rank: int) -> float:
    """The exposure of rank ``rank`` (1-based): ``1 / log2(rank + 1)``."""
    return 1.0 / math.log2(rank + 1)


def items_of(output: Any) -> tuple[str, ...] | None:
    """The recommended list in a prediction's output: a bare list, or ``{"items": [...]}``."""
    if isinstance(output, Mapping):
        output = output.get("items")
    if isinstance(output, list) and all(isinstance(i, str | int) and not isinstance(i, bool) for i in output):
        return tuple(str(i) for i in output)
    return None


@dataclass(frozen=True)
class GroupExposure:
    """The exposure one group of users gave to items (and item categories)."""

    attribute: str  # "" for everyone
    group: str  # "all" for everyone
    requests: int
    slots: int  # items shown, over all lists
    distinct_items: int
    shares: Mapping[str, float]  # item -> share of the group's exposure (sums to 1)
    category_shares: Mapping[str, Mapping[str, float]]  # dimension -> category -> share
    distance: float  # total variation distance of `shares` from everyone's


@dataclass(frozen=True)
class ExposureReport:
    overall: GroupExposure
    groups: tuple[GroupExposure, ...]

    def top_items(self, n: int = 10) -> list[str]:
        """The ``n`` items with the most exposure overall (ties by id)."""
        return [i for i, _ in sorted(self.overall.shares.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]

    @property
    def dimensions(self) -> list[str]:
        return sorted(self.overall.category_shares)


def _normalise(totals: Mapping[str, float]) -> dict[str, float]:
    whole = sum(totals.values())
    return {k: v / whole for k, v in sorted(totals.items())} if whole else {}


def total_variation(p: Mapping[str, float], q: Mapping[str, float]) -> float:
    return 0.5 * sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in set(p) | set(q))


class _Tally:
    def __init__(self) -> None:
        self.requests = 0
        self.slots = 0
        self.items: dict[str, float] = defaultdict(float)

    def add(self, items: Sequence[str]) -> None:
        self.requests += 1
        self.slots += len(items)
        for rank, item in enumerate(items, start=1):
            self.items[item] += weight(rank)


def _categories(items: Mapping[str, float], catalog: Mapping[str, Mapping[str, Sequence[str]]] | None
                ) -> dict[str, dict[str, float]]:
    if not catalog:
        return {}
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for item, exposure in items.items():
        for dimension, categories in (catalog.get(item) or {}).items():
            for category in categories:
                totals[dimension][category] += exposure / len(categories)
    return {dimension: _normalise(shares) for dimension, shares in sorted(totals.items())}


def exposure_by_group(records: Iterable[Listed], *,
                      catalog: Mapping[str, Mapping[str, Sequence[str]]] | None = None) -> ExposureReport:
    """Exposure per attribute and group (see the module docstring); records without a list are skipped.

    ``catalog`` maps an item id to its categories per dimension, e.g.
    ``{"50": {"genre": ["Action", "Sci-Fi"], "popularity": ["head"]}}``.
    """
    everyone = _Tally()
    tallies: dict[tuple[str, str], _Tally] = defaultdict(_Tally)
    for record in records:
        if record.items is None:
            continue
        everyone.add(record.items)
        for attribute, group in record.groups.items():
            tallies[(attribute, group)].add(record.items)
    overall_shares = _normalise(everyone.items)

    def summary(attribute: str, group: str, tally: _Tally) -> GroupExposure:
        shares = _normalise(tally.items)
        return GroupExposure(attribute=attribute, group=group, requests=tally.requests, slots=tally.slots,
                             distinct_items=len(tally.items), shares=shares,
                             category_shares=_categories(tally.items, catalog),
                             distance=total_variation(shares, overall_shares))

    return ExposureReport(overall=summary("", "all", everyone),
                          groups=tuple(summary(a, g, t) for (a, g), t in sorted(tallies.items())))
