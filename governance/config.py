"""`govflow.yaml`: one file per AI system, validated on load.

Unknown keys are errors (a misspelt policy must not pass silently). Every error names the key path
and a fix, and is raised as `ConfigError` (exit 2). Paths in the file are relative to its folder.
"""

from __future__ import annotations

import difflib
import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from govflow import canonical as canon
from govflow.errors import ConfigError

# The operating sections live in their own module; re-exported, so the whole config imports from here.
from govflow.governance.config_operating import AnchorSink as AnchorSink
from govflow.governance.config_operating import AnchorsSection as AnchorsSection
from govflow.governance.config_operating import AuthoritySection as AuthoritySection
from govflow.governance.config_operating import IncidentResponseSection as IncidentResponseSection
from govflow.governance.config_operating import PlanContact as PlanContact
from govflow.governance.config_operating import SeverityRule as SeverityRule
from govflow.governance.config_operating import Strict as _Strict
from govflow.governance.config_serving import ServingSection as ServingSection

ESTIMATORS = ("logistic_regression", "hist_gradient_boosting", "random_forest")
FACTORY_SPEC = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*")
MIN_RETENTION_DAYS = 183  # EU AI Act Art. 19 / 26(6): logs kept at least six months


def _without_unset(dumped: Any, keys: tuple[str, ...]) -> Any:
    return {k: v for k, v in dumped.items() if not (k in keys and v is None)} if isinstance(dumped, dict) else dumped


LABELS_HINT = "e.g. labels: {1: White, 2: Black}"


def _label_code(code: Any) -> str:
    """A code as the checks name its group: ``1`` and ``"1"`` are the same group, ``1.0`` is ``1``."""
    if isinstance(code, float) and code.is_integer():
        return str(int(code))
    return str(code)


class SensitiveFeature(_Strict):
    column: str = Field(description="Column holding the sensitive attribute.")
    bins: list[float] | None = Field(None, description="Left-closed bin edges for a continuous attribute.")
    labels: dict[str, str] | None = Field(None, description="Group code (or bin, e.g. '[0, 25)') -> the name "
                                          "shown in documents and the dashboard; checks still use the codes.")

    @field_validator("labels", mode="before")
    @classmethod
    def _codes_as_text(cls, labels: Any) -> Any:
        if labels is None:
            return labels
        if not isinstance(labels, dict) or not labels:
            raise ValueError(f"give a mapping from each code to its name, {LABELS_HINT}")
        named: dict[str, str] = {}
        written: dict[str, Any] = {}
        for code, name in labels.items():
            if not isinstance(name, str) or not name.strip():
                raise ValueError(f"the name of code {code!r} must be non-empty text ({name!r} is not), {LABELS_HINT}")
            if _label_code(code) in named:
                raise ValueError(f"codes {written[_label_code(code)]!r} and {code!r} are the same group; give each code once")
            named[_label_code(code)], written[_label_code(code)] = name.strip(), code
        return named

    @model_validator(mode="after")
    def _labels_fit(self) -> SensitiveFeature:
        if not self.labels:
            return self
        by_name: dict[str, str] = {}
        for code, name in self.labels.items():
            if name in by_name:
                raise ValueError(f"labels: codes {by_name[name]!r} and {code!r} have the same name {name!r}; "
                                 "give each group its own name, or merge the codes in the data")
            by_name[name] = code
        if self.bins:
            from govflow.checks.group_spec import SensitiveFeature as Binned

            bins = Binned.parse({"column": self.column, "bins": self.bins}).labels
            unknown = [code for code in self.labels if code not in bins]
            if unknown:
                raise ValueError(f"labels: {unknown[0]!r} is not one of the bins' groups ({', '.join(bins)}); "
                                 "with bins, name the bins, e.g. labels: {'[0, 25)': under 25}")
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: Any) -> dict[str, Any]:
        # Unset, labels are left out, so configs written before them keep their config hash.
        return _without_unset(handler(self), ("labels",))

    @field_validator("bins")
    @classmethod
    def _increasing(cls, bins: list[float] | None) -> list[float] | None:
        if bins is None:
            return bins
        if len(bins) < 2:
            raise ValueError("give at least two edges, e.g. [0, 25, 120]")
        if any(math.isnan(edge) for edge in bins):  # NaN compares false both ways: it would pass the next test
            raise ValueError("edges must be numbers, not NaN, e.g. [0, 25, 120]")
        for prev, nxt in zip(bins, bins[1:]):
            if nxt <= prev:
                raise ValueError(f"edges must be strictly increasing ({prev} is followed by {nxt}), e.g. [0, 25, 120]")
        return bins


def _sensitive_kind(item: Any) -> str:
    # Tells pydantic which form an item is, so an error inside {column, bins} is reported as such
    # (an untagged union reported "Input should be a valid string" for bad bins).
    return "sensitive-spec" if isinstance(item, dict | SensitiveFeature) else "sensitive-name"


SensitiveItem = Annotated[
    Annotated[str, Tag("sensitive-name")] | Annotated[SensitiveFeature, Tag("sensitive-spec")],
    Discriminator(_sensitive_kind),
]


class SystemSection(_Strict):
    name: str = Field(description="NAME in NAME:VERSION; lower-case letters, digits, '-' and '_'.")
    intended_purpose: str = Field(description="What the system is for, in one sentence (Annex IV 1(a)).")
    annex_iii: str | None = Field(None, description='The declared EU AI Act Annex III point, e.g. "5(b)", or null.')
    provider: str | None = Field(None, description="Who places the system on the market (Annex IV 1(a)).")

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,99}", name):
            raise ValueError("use lower-case letters, digits, '-' and '_' (e.g. credit-scoring)")
        return name


class DataSection(_Strict):
    train: str = Field(description="Training data file (csv or parquet), relative to this file.")
    target: str = Field(description="The label column.")
    positive_label: str | int | bool = Field(description="The favourable outcome's label value.")
    sensitive_features: list[SensitiveItem] = Field(default_factory=list)
    id_column: str | None = Field(None, description="A unique id per row (kept out of the model).")
    exclude: list[str] = Field(default_factory=list, description="Columns the model must not see.")
    features: list[str] | None = Field(None, description="The columns the model sees (an allow-list); "
                                       "default: all but the target, id, excluded and sensitive columns.")
    sensitive_as_features: bool = Field(False, description="Let the model see the sensitive attributes.")
    test_size: float = Field(0.3, gt=0, lt=1, description="Held-out share for the gate's checks.")
    seed: int = Field(42, description="Seed of the train/test split and the estimator.")
    contract: dict[str, Any] | None = Field(None, description="A written data contract; else inferred.")
    name: str | None = Field(None, description="Data set name in documents (default: the file name).")
    origin: str | None = Field(None, description="Where the data comes from (datasheet).")

    def sensitive(self) -> list[SensitiveFeature]:
        return [SensitiveFeature(column=s) if isinstance(s, str) else s for s in self.sensitive_features]

    @model_serializer(mode="wrap")
    def _dump(self, handler: Any) -> dict[str, Any]:
        # Unset, the allow-list is left out, so configs written before it keep their config hash.
        return _without_unset(handler(self), ("features",))

    @model_validator(mode="after")
    def _features_fit(self) -> DataSection:
        if self.features is None:
            return self
        if not self.features:
            raise ValueError("features: the list is empty; name the columns the model sees, or remove data.features")
        sensitive = {s.column for s in self.sensitive()}
        for i, column in enumerate(self.features):
            where = f"features[{i}]: column '{column}'"
            if column in self.features[:i]:
                raise ValueError(f"{where} is listed twice; list each column once")
            if column in self.exclude:
                raise ValueError(f"{where} is also in data.exclude; a column is either a feature or excluded, "
                                 "remove it from one of the two")
            if column == self.target:
                raise ValueError(f"{where} is the target (data.target); the model cannot see its own label, "
                                 "remove it from data.features")
            if column == self.id_column:
                raise ValueError(f"{where} is the id column (data.id_column), kept out of the model; "
                                 "remove it from data.features")
            if column in sensitive and not self.sensitive_as_features:
                raise ValueError(f"{where} is a sensitive feature, kept out of the model by default; remove it "
                                 "from data.features, or set data.sensitive_as_features: true")
        return self

    @field_validator("sensitive_features")
    @classmethod
    def _once_each(cls, items: list[str | SensitiveFeature]) -> list[str | SensitiveFeature]:
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            column = item if isinstance(item, str) else item.column
            if column in seen:
                raise ValueError(f"column '{column}' is listed twice (items {seen[column]} and {i}); list each column once")
            seen[column] = i
        return items


class ModelSection(_Strict):
    estimator: str | None = Field(None, description=f"One of {', '.join(ESTIMATORS)} "
                                  "(default logistic_regression, unless model.factory is given).")
    factory: str | None = Field(None, description='Your own estimator or pipeline: "package.module:function", '
                                "a function returning a scikit-learn estimator; imported from this file's folder "
                                "or the environment.")
    params: dict[str, Any] = Field(default_factory=dict, description="Estimator (or factory) keyword arguments.")
    mitigation: Literal["none", "reweighing", "exponentiated_gradient", "threshold_optimizer"] = Field(
        "none", description="Bias mitigation over the intersection of the sensitive features; "
        "threshold_optimizer needs the sensitive attributes at prediction time.")

    @field_validator("estimator")
    @classmethod
    def _known(cls, estimator: str | None) -> str | None:
        if estimator is not None and estimator not in ESTIMATORS:
            raise ValueError(f"unknown estimator '{estimator}'; choose one of: {', '.join(ESTIMATORS)}")
        return estimator

    @field_validator("factory")
    @classmethod
    def _spec(cls, factory: str | None) -> str | None:
        if factory is not None and not FACTORY_SPEC.fullmatch(factory):
            raise ValueError(f"'{factory}' is not of the form \"package.module:function\" "
                             '(e.g. "my_model:build_pipeline" for build_pipeline() in my_model.py beside this file)')
        return factory

    @model_validator(mode="before")
    @classmethod
    def _one_of(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if data.get("estimator") is not None and data.get("factory") is not None:
            raise ValueError("give model.estimator or model.factory, not both: the factory builds the whole model")
        if data.get("factory") is None and data.get("estimator") is None:
            return {**data, "estimator": "logistic_regression"}  # the default of a config without a factory
        return data

    @model_serializer(mode="wrap")
    def _dump(self, handler: Any) -> dict[str, Any]:
        # Unset, the factory is left out, so configs written before it keep their config hash.
        return _without_unset(handler(self), ("factory",))

    @property
    def kind(self) -> str:
        """What builds the model, for people: the estimator's name or ``factory package.module:function``."""
        return f"factory {self.factory}" if self.factory else str(self.estimator)


class MonitoringSection(_Strict):
    schedule: str = Field("0 6 * * *", description="Cron schedule of the monitoring flow.")
    window: str = Field("7d", description="Monitoring window, e.g. 7d, 24h.")


class LoggingSection(_Strict):
    redact: list[str] = Field(default_factory=list, description="Input fields stored only as salted hashes.")
    retention_days: int = Field(MIN_RETENTION_DAYS, description="Days prediction payloads are kept (>= 183).")

    @field_validator("retention_days")
    @classmethod
    def _six_months(cls, days: int) -> int:
        if days < MIN_RETENTION_DAYS:
            raise ValueError(f"must be at least {MIN_RETENTION_DAYS} days: EU AI Act Art. 19 keeps logs at least six months")
        return days


class LineageSection(_Strict):
    openlineage: dict[str, Any] | None = Field(None, description="{transport: file|http|console, ...}")


class GovflowConfig(_Strict):
    system: SystemSection
    data: DataSection
    model: ModelSection = Field(default_factory=ModelSection)
    policy: dict[str, Any] = Field(default_factory=dict)
    monitoring: MonitoringSection = Field(default_factory=MonitoringSection)
    logging: LoggingSection = Field(default_factory=LoggingSection)
    lineage: LineageSection = Field(default_factory=LineageSection)
    serving: ServingSection = Field(default_factory=ServingSection)
    # Where heads are anchored is the operator's setting, not the system's: kept out of the stored
    # snapshot and the config hash (a new anchor must not look like a changed model config).
    anchors: AnchorsSection = Field(default_factory=AnchorsSection, exclude=True)
    # The response plan (who is called, which authority) is an operating setting too: changing a phone
    # number must not look like a changed model; each incident records the plan it was handled under.
    incident_response: IncidentResponseSection = Field(default_factory=IncidentResponseSection, exclude=True)
    base_dir: str = Field("", exclude=True)

    @model_serializer(mode="wrap")
    def _dump(self, handler: Any) -> dict[str, Any]:
        # At its default, serving: is left out, so configs written before it keep their config hash.
        dumped: dict[str, Any] = handler(self)
        if dumped.get("serving") == ServingSection().model_dump(mode="json"):
            dumped.pop("serving")
        return dumped

    @property
    def train_path(self) -> Path:
        return Path(self.base_dir) / self.data.train

    def policy_model(self) -> Any:
        from govflow.checks.policy import Policy

        return Policy.from_mapping(self.policy)

    def snapshot(self) -> dict[str, Any]:
        """The config in force, stored with each model version (`serve` needs no -c)."""
        return {**self.model_dump(mode="json"), "base_dir": self.base_dir}

    def config_hash(self) -> str:
        return canon.hash_value(self.model_dump(mode="json"))


def _describe(error: dict[str, Any], raw: dict[str, Any]) -> str:
    parts = [p for p in error["loc"] if not str(p).startswith(("function-", "SensitiveFeature", "sensitive-"))]
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")
    path = re.sub(r"\.(str)$", "", path)
    if error["type"] == "extra_forbidden":
        parent: Any = raw
        for part in error["loc"][:-1]:
            parent = parent.get(part, {}) if isinstance(parent, dict) else {}
        key = str(error["loc"][-1])
        allowed = _allowed_keys(error["loc"][:-1])
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(allowed)}"
        return f"{path}: unknown key; {hint}"
    if error["type"] == "missing":
        return f"{path}: required key is missing; add it (see `govflow init` for a commented example)"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{path}: {message}"


def _section_model(annotation: Any) -> Any:
    """The config section a field holds, through list[...], unions and Annotated (None if it holds none)."""
    if hasattr(annotation, "model_fields"):
        return annotation
    for arg in getattr(annotation, "__args__", None) or ():
        found = _section_model(arg)
        if found is not None:
            return found
    return None


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    model: Any = GovflowConfig
    for part in loc:
        if isinstance(part, int) or str(part).startswith(("sensitive-", "function-")):
            continue  # a list index or a union's tag: the section is the list's item type, found below
        field = getattr(_section_model(model), "model_fields", {}).get(part)
        if field is None:
            return []
        model = field.annotation
    return sorted(getattr(_section_model(model), "model_fields", {}).keys() - {"base_dir"})


def parse_config(raw: Any, base_dir: Path, source: str = "govflow.yaml") -> GovflowConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping with system:, data:, ... at the top; see `govflow init`")
    try:
        config = GovflowConfig.model_validate({**raw, "base_dir": str(base_dir)})
    except ValidationError as e:
        first = e.errors()[0]
        raise ConfigError(f"{source}: {_describe(dict(first), raw)}") from None
    try:
        config.policy_model()  # validates the policy section
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None
    return config


def load_config(path: str | Path) -> GovflowConfig:
    """Read and validate a config file; the data file's presence is checked too."""
    file = Path(path)
    if not file.exists():
        raise ConfigError(f"config file {file} not found; pass -c PATH, or create one with `govflow init`")
    from govflow.governance.registry.estimators import check_model
    from govflow.governance.strict_yaml import load_yaml

    config = parse_config(load_yaml(file), file.parent.absolute(), source=str(file))
    try:
        check_model(config.model.estimator, config.model.factory, config.model.params, config.data.seed,
                    Path(config.base_dir), config.model.mitigation if config.data.sensitive_features else "none")
    except ConfigError as e:
        raise ConfigError(f"{file}: {e}") from None
    if not config.train_path.exists():
        raise ConfigError(
            f"{file}: data.train: file '{config.data.train}' not found (looked for {config.train_path}); "
            "paths are relative to the config file's folder"
        )
    return config
