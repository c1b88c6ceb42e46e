"""The policy: documented defaults, unknown keys refused with the key path, a stable content hash."""

from __future__ import annotations

import hashlib
import json

import pytest
from pydantic import BaseModel

from govflow.checks.policy import Policy
from govflow.errors import ConfigError


def test_defaults_as_in_design() -> None:
    policy = Policy.from_mapping(None)
    assert policy.fairness.demographic_parity_difference_max == 0.1
    assert policy.fairness.equalized_odds_difference_max == 0.1
    assert policy.fairness.disparate_impact_ratio_min == 0.8
    assert policy.fairness.min_group_size == 30
    assert policy.drift.drifted_column_share_max == 0.3
    assert policy.performance.roc_auc_min == 0.7
    assert policy.approvals == ["model_owner", "risk_officer"]


def test_every_field_is_documented() -> None:
    sections: list[type[BaseModel]] = [Policy, *(type(getattr(Policy(), name)) for name in ("fairness", "drift", "performance", "validation"))]
    for section in sections:
        for name, info in section.model_fields.items():
            assert info.description, f"{section.__name__}.{name} has no description"


def test_hash_is_sha256_of_canonical_json_of_the_defaulted_policy() -> None:
    policy = Policy.from_mapping({"fairness": {"min_group_size": 50}})
    text = json.dumps(policy.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert policy.hash() == hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_hash_ignores_spelling_out_defaults_but_not_values() -> None:
    explicit = Policy.from_mapping({"fairness": {"demographic_parity_difference_max": 0.1},
                                    "approvals": ["model_owner", "risk_officer"]})
    assert explicit.hash() == Policy().hash()
    assert Policy.from_mapping({"drift": {"drifted_column_share_max": 0.31}}).hash() != Policy().hash()


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"fairness": {"demographic_parity_diference_max": 0.2}},
         "policy.fairness.demographic_parity_diference_max: unknown key; did you mean demographic_parity_difference_max?"),
        ({"fairnes": {}}, "policy.fairnes: unknown key; did you mean fairness?"),
        ({"drift": {"zzz": 1}},
         "policy.drift.zzz: unknown key; allowed keys: drifted_column_share_max, numerical_method, numerical_threshold, "
         "categorical_method, categorical_threshold, prediction_drift, target_drift, out_of_domain_share_max"),
        ({"fairness": {"min_group_size": 0}},
         "policy.fairness.min_group_size: Input should be greater than or equal to 1 (got 0)"),
        ({"performance": {"roc_auc_min": "high"}},
         "policy.performance.roc_auc_min: Input should be a valid number, unable to parse string as a number (got 'high')"),
        ({"drift": {"prediction_drift": "block"}},
         "policy.drift.prediction_drift: Input should be 'critical', 'warning' or 'off' (got 'block')"),
        ({"approvals": ["risk_officer", "risk_officer"]},
         "policy.approvals: roles must be distinct, non-empty names (got ['risk_officer', 'risk_officer'])"),
        (["fairness"], "policy: expected a mapping of keys to values, got list; see DESIGN.md for the policy keys"),
    ],
)
def test_bad_policy_names_the_key_and_the_fix(mapping: object, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Policy.from_mapping(mapping)  # type: ignore[arg-type]
    assert str(caught.value) == message


def test_drift_method_names_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"^policy.drift.categorical_method: Input should be 'chisquare', "):
        Policy.from_mapping({"drift": {"categorical_method": "ks"}})
