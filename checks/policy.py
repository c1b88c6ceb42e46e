"""The compliance policy: the thresholds the checks apply (the `policy:` section of govflow.yaml).

Every key is optional and has a documented default; an unknown key is an error, so a misspelt
threshold cannot pass silently. `Policy.hash()` identifies the policy a decision applied: sha256
over the canonical JSON of the fully defaulted policy, so writing a default out explicitly or
leaving it implicit gives the same hash, while changing any value changes it.

Examples
--------
>>> Policy.from_mapping({"fairness": {"min_group_size": 50}}).fairness.min_group_size
50
>>> Policy.from_mapping({"fairness": {"min_group_size": 50}}).hash() == Policy().hash()
False
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_serializer

from govflow.canonical import hash_value
from govflow.errors import ConfigError

NOT_A_MAPPING = "{path}: expected a mapping of keys to values, got {type}; see DESIGN.md for the policy keys"
UNKNOWN_KEY = "{path}: unknown key; did you mean {suggestion}?"
UNKNOWN_KEY_NO_MATCH = "{path}: unknown key; allowed keys: {allowed}"
INVALID_VALUE = "{path}: {message} (got {value!r})"

DriftSeverity = Literal["critical", "warning", "off"]
# Evidently 0.7 stattest names (evidently.legacy.calculations.stattests), by the column type they take.
NumericalStatTest = Literal["anderson", "cramer_von_mises", "ed", "empirical_mmd", "es", "hellinger",
                            "jensenshannon", "kl_div", "ks", "mannw", "psi", "t_test", "wasserstein"]
# plus govflow's own two-sample chi-square (govflow.checks.drift), the default for small categorical samples.
CategoricalStatTest = Literal["chisquare", "chisquare_two_sample", "fisher_exact", "g_test", "hellinger",
                              "jensenshannon", "kl_div", "psi", "TVD", "z"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FairnessPolicy(_Section):
    """Bounds on between-group disparities (fairlearn definitions; REGULATIONS.md)."""

    demographic_parity_difference_max: float = Field(
        default=0.1, ge=0, le=1, description="Largest allowed gap in selection rate between groups (default 0.1).")
    equalized_odds_difference_max: float = Field(
        default=0.1, ge=0, le=1, description="Largest allowed gap in true- or false-positive rate (default 0.1).")
    disparate_impact_ratio_min: float = Field(
        default=0.8, ge=0, le=1, description="Smallest allowed ratio of selection rates, four-fifths rule (default 0.8).")
    min_group_size: int = Field(
        default=30, ge=1, description="Groups with fewer rows are reported as too small to judge (default 30).")
    bootstrap_samples: int = Field(
        default=200, ge=0, description="Bootstrap resamples for confidence intervals; 0 disables them (default 200).")
    confidence_level: float = Field(
        default=0.95, gt=0, lt=1, description="Coverage of the bootstrap confidence intervals (default 0.95).")
    random_seed: int = Field(default=0, description="Seed of the bootstrap, so reruns give the same intervals (default 0).")
    intersectional: bool = Field(
        default=True, description="Also judge the intersection of all sensitive features (default true).")
    intersection_severity: Literal["critical", "warning"] = Field(
        default="warning", description="Severity of intersectional results; small cells make them noisy (default warning).")


class DriftPolicy(_Section):
    """When the current data counts as drifted from the reference (Evidently tests)."""

    drifted_column_share_max: float = Field(
        default=0.3, ge=0, le=1, description="Largest allowed share of drifted feature columns (default 0.3).")
    numerical_method: NumericalStatTest | None = Field(
        default=None, description="Evidently test for numeric columns; null: K-S up to 1000 rows, else Wasserstein (default).")
    numerical_threshold: float | None = Field(
        default=None, gt=0, description="Threshold of that test (a p-value or a distance); null: its own default (default).")
    categorical_method: CategoricalStatTest | None = Field(
        default=None, description="Evidently test for categorical columns; null: two-sample chi-square/Z up to 1000 rows, else Jensen-Shannon (default).")
    categorical_threshold: float | None = Field(
        default=None, gt=0, description="Threshold of that test (a p-value or a distance); null: its own default (default).")
    prediction_drift: DriftSeverity = Field(
        default="critical", description="Severity when the predictions drift, or off (default critical).")
    target_drift: DriftSeverity = Field(
        default="warning", description="Severity when the labels drift (when both sets have them), or off (default warning).")
    out_of_domain_share_max: float = Field(
        default=0.05, ge=0, le=1, description="Largest allowed share of predictions with an input outside the "
        "training range or set, scored and flagged by serving (default 0.05).")

    @model_serializer(mode="wrap")
    def _dump(self, handler: Any) -> dict[str, Any]:
        # Left out at its default, so the hash of every policy written before it is unchanged.
        dumped: dict[str, Any] = handler(self)
        if dumped.get("out_of_domain_share_max") == 0.05:
            dumped.pop("out_of_domain_share_max")
        return dumped


class PerformancePolicy(_Section):
    """Minimum model quality on held-out data; null means not checked."""

    roc_auc_min: float | None = Field(default=0.7, ge=0, le=1, description="Smallest allowed ROC AUC (default 0.7).")
    accuracy_min: float | None = Field(default=None, ge=0, le=1, description="Smallest allowed accuracy (default: not checked).")
    precision_min: float | None = Field(default=None, ge=0, le=1, description="Smallest allowed precision (default: not checked).")
    recall_min: float | None = Field(default=None, ge=0, le=1, description="Smallest allowed recall (default: not checked).")
    brier_max: float | None = Field(default=None, ge=0, le=1, description="Largest allowed Brier score (default: not checked).")
    decision_threshold: float = Field(
        default=0.5, gt=0, lt=1, description="Score at or above which a prediction is positive (default 0.5).")
    per_group: bool = Field(
        default=True, description="Also apply the minimums to each sensitive group, as warnings (default true).")


class ValidationPolicy(_Section):
    """How a data contract is inferred from training data and how strictly it is applied."""

    null_rate_tolerance: float = Field(
        default=0.01, ge=0, le=1, description="Added to a column's training null rate; null-free columns stay null-free (default 0.01).")
    range_slack: float = Field(
        default=0.1, ge=0, description="Widens inferred numeric ranges by this share of the observed range on each side (default 0.1).")
    max_categories: int = Field(
        default=50, ge=1, description="Text columns with at most this many distinct values get an allowed set (default 50).")
    unexpected_share_max: float = Field(
        default=0.0, ge=0, le=1, description="Share of a column's values allowed outside its range or set (default 0).")


class ExposurePolicy(_Section):
    """Recommenders: how evenly user groups get to discover the catalogue (`govflow.checks.recommendations`)."""

    ratio_min: float = Field(
        default=0.8, ge=0, le=1, description="Smallest ratio of the lowest user group's novelty (mean popularity "
        "percentile of what it is shown) to the highest group's (default 0.8).")


EXPOSURE_DEFAULTS: dict[str, Any] = {"exposure": {"ratio_min": 0.8}}  # left out of `to_dict` at its default
APPROVAL_RULE_DEFAULTS: dict[str, Any] = {"separation_of_duties": True, "signed_approvals": "optional",
                                           "allowed_signers": None, "owner_role": "risk_officer"}


class Policy(_Section):
    """The whole `policy:` section."""

    fairness: FairnessPolicy = Field(default=FairnessPolicy(), description="Fairness bounds.")
    drift: DriftPolicy = Field(default=DriftPolicy(), description="Drift bounds.")
    performance: PerformancePolicy = Field(default=PerformancePolicy(), description="Performance minimums.")
    validation: ValidationPolicy = Field(default=ValidationPolicy(), description="Data contract settings.")
    exposure: ExposurePolicy = Field(default=ExposurePolicy(), description="Recommenders: exposure between user groups.")
    approvals: list[str] = Field(
        default_factory=lambda: ["model_owner", "risk_officer"],
        description="Roles that must approve a model version before production (default model_owner, risk_officer).")

    # Who may approve (#16). Left out of `to_dict` while at their defaults, so the hash of every policy
    # written before them is unchanged; set, they are part of the governed policy like any bound.
    separation_of_duties: bool = Field(
        default=True, description="One person fills at most one required role, and whoever registered a "
        "version may not approve it alone (default true).")
    signed_approvals: Literal["optional", "required"] = Field(
        default="optional", description="required: an approval must be signed with an SSH key (default optional).")
    owner_role: str = Field(
        default="risk_officer", min_length=1, description="The role that puts a change of this policy in force "
        "(`govflow policy approve --role`) (default risk_officer).")
    allowed_signers: str | None = Field(
        default=None, description="SSH allowed-signers file naming who may sign for which role, as NAME@ROLE "
        "principals; relative to the config file (default none).")

    @model_serializer(mode="wrap")
    def _dump(self, handler: Any) -> dict[str, Any]:
        dumped = handler(self)
        defaults = {**APPROVAL_RULE_DEFAULTS, **EXPOSURE_DEFAULTS}  # so every earlier policy's hash is unchanged
        return {k: v for k, v in dumped.items() if k not in defaults or v != defaults[k]}

    @field_validator("approvals")
    @classmethod
    def _distinct_roles(cls, roles: list[str]) -> list[str]:
        if len(set(roles)) != len(roles) or any(not r.strip() for r in roles):
            raise ValueError("roles must be distinct, non-empty names")
        return roles

    def to_dict(self) -> dict[str, Any]:
        """The fully defaulted policy as JSON-safe values."""
        return self.model_dump(mode="json")

    def hash(self) -> str:
        """sha256 (hex) over the canonical JSON of the fully defaulted policy."""
        return hash_value(self.to_dict())

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None, *, path: str = "policy") -> Policy:
        """Validate a `policy:` mapping (None or {} gives the defaults).

        Raises
        ------
        ConfigError
            Naming the key path, e.g. ``policy.fairness.min_group_size: ...``, and the fix.
        """
        if mapping is None:
            return cls()
        if not isinstance(mapping, Mapping):
            raise ConfigError(NOT_A_MAPPING.format(path=path, type=type(mapping).__name__))
        try:
            return cls.model_validate(dict(mapping))
        except ValidationError as e:
            raise ConfigError(describe_errors(e, cls, path)) from None


def describe_errors(error: ValidationError, model: type[BaseModel], path: str) -> str:
    """One line naming each invalid key path and what to do, for a pydantic error on `model`."""
    return "; ".join(_describe(err, model, path) for err in error.errors())


def _describe(err: Any, model: type[BaseModel], path: str) -> str:
    loc = tuple(err["loc"])
    where = ".".join([path, *(str(p) for p in loc)])
    if err["type"] == "extra_forbidden":
        allowed = _fields_at(model, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        if close:
            return UNKNOWN_KEY.format(path=where, suggestion=close[0])
        return UNKNOWN_KEY_NO_MATCH.format(path=where, allowed=", ".join(allowed))
    message = str(err["msg"]).removeprefix("Value error, ")
    return INVALID_VALUE.format(path=where, message=message, value=err.get("input"))


def _fields_at(model: Any, loc: tuple[Any, ...]) -> list[str]:
    """The field names of the (nested) model at `loc`; through ``dict[str, Model]`` values too."""
    mapping_value = False
    for part in loc:
        if mapping_value:  # `part` is a key of a dict[str, Model]: step into the value type
            model, mapping_value = get_args(model)[1], False
            continue
        info = getattr(model, "model_fields", {}).get(part)
        if info is None:
            return []
        model = info.annotation
        mapping_value = get_origin(model) is dict
    return list(getattr(model, "model_fields", {}))
