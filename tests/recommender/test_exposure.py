"""Exposure by user group on an example small enough to check by hand."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest

from govflow.governance.trail.exposure import exposure_by_group, items_of, total_variation, weight

W2 = 1 / math.log2(3)  # 0.6309: the weight of rank 2


@dataclass(frozen=True)
class R:
    items: tuple[str, ...] | None
    groups: dict[str, str] = field(default_factory=dict)


def test_weights() -> None:
    assert [round(weight(k), 4) for k in (1, 2, 3, 4)] == [1.0, 0.6309, 0.5, 0.4307]


@pytest.mark.parametrize(("output", "items"), [(["50", 181], ("50", "181")), ({"items": ["7"], "scores": [0.3]}, ("7",)),
                                               ({"decision": 1}, None), ([True], None), ("50", None)])
def test_items_of(output: object, items: tuple[str, ...] | None) -> None:
    assert items_of(output) == items


def test_two_users_by_hand() -> None:
    report = exposure_by_group([R(("a", "b"), {"gender": "F"}), R(("b", "c"), {"gender": "M"}), R(None, {"gender": "F"})])
    f, m = report.groups
    assert (f.group, f.requests, f.slots, f.distinct_items) == ("F", 1, 2, 2)
    assert f.shares == pytest.approx({"a": 1 / (1 + W2), "b": W2 / (1 + W2)})  # 0.613, 0.387
    assert m.shares == pytest.approx({"b": 1 / (1 + W2), "c": W2 / (1 + W2)})
    # everyone: a 1, b 1 + W2, c W2, over 2 + 2 W2
    assert report.overall.shares == pytest.approx({"a": 0.5 / (1 + W2), "b": 0.5, "c": 0.5 * W2 / (1 + W2)})
    # F vs all: |0.613 - 0.307| + |0.387 - 0.5| + |0 - 0.193| = 0.613, halved
    assert f.distance == pytest.approx(0.5 * ((1 / (1 + W2) - 0.5 / (1 + W2)) + (0.5 - W2 / (1 + W2)) + 0.5 * W2 / (1 + W2)))
    assert f.distance == pytest.approx(0.3066, abs=1e-4)
    assert report.top_items(2) == ["b", "a"]


def test_categories_split_an_items_weight_equally() -> None:
    catalog = {"a": {"genre": ["Action", "Sci-Fi"]}, "b": {"genre": ["Drama"]}}
    report = exposure_by_group([R(("a", "b"), {"age": "[0, 25)"})], catalog=catalog)
    (group,) = report.groups
    # a: 1 split in halves; b: W2; total 1 + W2
    assert group.category_shares["genre"] == pytest.approx(
        {"Action": 0.5 / (1 + W2), "Sci-Fi": 0.5 / (1 + W2), "Drama": W2 / (1 + W2)})
    assert report.dimensions == ["genre"]


def test_total_variation() -> None:
    assert total_variation({"a": 1.0}, {"b": 1.0}) == 1.0
    assert total_variation({"a": 0.5, "b": 0.5}, {"b": 0.5, "a": 0.5}) == 0.0
