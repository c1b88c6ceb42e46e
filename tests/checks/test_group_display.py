"""`group_display_label`: the name a group is shown under, from ``labels:`` in the config."""

from __future__ import annotations

from typing import Any

import pytest

from govflow.checks.groups import MISSING_GROUP, SensitiveFeature, group_display_label
from govflow.governance.config import SensitiveFeature as ConfiguredFeature

SPECS: list[Any] = ["SEX", {"column": "RAC1P", "labels": {1: "White", 2: "Black"}},
                    {"column": "age", "bins": [0, 25, 120], "labels": {"[0, 25)": "under 25"}}]


@pytest.mark.parametrize(("feature", "group", "shown"), [
    ("RAC1P", "1", "White"),
    ("RAC1P", "1.0", "White"),  # a code read as a float names the same group
    ("RAC1P", "9", "9"),  # not named: shown as computed
    ("RAC1P", MISSING_GROUP, MISSING_GROUP),
    ("SEX", "2", "2"),
    ("age", "[0, 25)", "under 25"),
    ("age", "[25, 120)", "[25, 120)"),
    ("RAC1P & age", "2 & [0, 25)", "Black & under 25"),  # an intersection, part by part
    ("SEX & RAC1P", "2 & 1", "2 & White"),
    ("SEX & RAC1P", "2", "2"),  # parts do not match the features: shown as computed
    ("unknown", "1", "1"),
])
def test_groups_are_shown_by_their_configured_names(feature: str, group: str, shown: str) -> None:
    assert group_display_label(feature, group, SPECS) == shown


def test_parsed_config_items_and_no_config_work_alike() -> None:
    parsed = [ConfiguredFeature(column="RAC1P", labels={"1": "White"})]
    assert group_display_label("RAC1P", "1", parsed) == "White"
    assert group_display_label("RAC1P", "1", None) == "1"
    assert group_display_label("RAC1P", "1", [SensitiveFeature("RAC1P")]) == "1"


def test_a_spec_with_labels_is_a_valid_sensitive_feature_for_the_checks() -> None:
    spec = {"column": "RAC1P", "bins": None, "labels": {"1": "White"}}
    assert SensitiveFeature.parse(spec) == SensitiveFeature("RAC1P")
