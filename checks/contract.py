"""The data contract: what data a model may be given, written in govflow.yaml or inferred from training.

A contract is a plain, versioned, JSON-safe value: per column a logical type, and optionally a
numeric range, a set of allowed values, a largest null rate and uniqueness; for the table, row-count
bounds and whether extra columns are allowed. Its content hash identifies it, so the contract a
model was trained under can be stored with the model and later data validated against exactly that
contract (`govflow.checks.validation.validate`). In govflow.yaml (``data.contract``)::

    contract:
      columns:
        age_in_years: {type: integer, min: 18, max: 100}
        personal_status_and_sex: {type: string, allowed: ["male : single", "female : ..."]}
        applicant_id: {type: integer, unique: true}
      row_count_min: 100

Examples
--------
>>> frame = pd.DataFrame({"age": [20, 40, 60], "sex": ["f", "m", "f"]})
>>> contract = infer_contract(frame)
>>> contract.columns["age"].min, contract.columns["age"].max, contract.columns["sex"].allowed
(16, 64, ['f', 'm'])
>>> Contract.from_dict(contract.to_dict()) == contract
True
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from govflow.canonical import hash_value, json_safe
from govflow.checks.inputs import require_columns, require_frame, require_not_all_null
from govflow.checks.policy import Policy, describe_errors
from govflow.errors import ConfigError

CONTRACT_VERSION: Literal[1] = 1
HASH_MISMATCH = (
    "{path}: the contract's hash {recorded} does not match its content ({actual}): it was changed "
    "after it was recorded; restore it, or remove its hash to record a new contract"
)
LogicalType = Literal["integer", "float", "boolean", "string", "category", "datetime"]
# Which logical types of a frame's column satisfy a contract's type (ints widen to floats, text and
# categoricals are interchangeable; an integer column read back with nulls is float: see _fits).
COMPATIBLE: dict[str, tuple[str, ...]] = {
    "integer": ("integer",), "float": ("float", "integer"), "boolean": ("boolean",),
    "string": ("string", "category"), "category": ("category", "string"), "datetime": ("datetime",),
}


class ColumnContract(BaseModel):
    """What one column must hold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: LogicalType = Field(description="Logical type: integer, float, boolean, string, category or datetime.")
    min: int | float | None = Field(default=None, description="Smallest allowed value (numeric columns); null: none.")
    max: int | float | None = Field(default=None, description="Largest allowed value (numeric columns); null: none.")
    allowed: list[bool | int | float | str] | None = Field(default=None, description="The allowed values; null: any.")
    max_null_rate: float = Field(default=0.0, ge=0, le=1, description="Largest allowed share of missing values (default 0).")
    unique: bool = Field(default=False, description="Every value must be distinct, e.g. an id (default false).")


class Contract(BaseModel):
    """A versioned data contract; `hash()` identifies its content."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = Field(default=CONTRACT_VERSION, description="Format version of the contract.")
    columns: dict[str, ColumnContract] = Field(description="The required columns and what each must hold.")
    row_count_min: int = Field(default=1, ge=0, description="Fewest rows allowed (default 1).")
    row_count_max: int | None = Field(default=None, ge=0, description="Most rows allowed; null: no limit (default).")
    extra_columns: Literal["allow", "forbid"] = Field(default="allow", description="Whether other columns may appear.")

    def content(self) -> dict[str, Any]:
        """The JSON-safe content the hash covers (everything but the hash)."""
        return self.model_dump(mode="json")

    def hash(self) -> str:
        """sha256 (hex) over the canonical JSON of `content()`."""
        return hash_value(self.content())

    def to_dict(self) -> dict[str, Any]:
        """`content()` plus its ``hash``: what the ledger stores next to the model."""
        return {**self.content(), "hash": self.hash()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, path: str = "data.contract") -> Contract:
        """Parse a contract from govflow.yaml or the ledger, checking its hash when it has one.

        Raises
        ------
        ConfigError
            With the key path for an invalid or unknown key, or when the recorded hash does not match.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path}: expected a mapping with columns: ..., got {type(data).__name__}")
        content = {k: v for k, v in data.items() if k != "hash"}
        try:
            contract = cls.model_validate(content)
        except ValidationError as e:
            raise ConfigError(describe_errors(e, cls, path)) from None
        recorded = data.get("hash")
        if recorded is not None and recorded != contract.hash():
            raise ConfigError(HASH_MISMATCH.format(path=path, recorded=recorded, actual=contract.hash()))
        return contract

    def to_expectation_suite(self, name: str | None = None) -> Any:
        """The contract as a Great Expectations `ExpectationSuite` (types are checked apart: see validation).

        Each expectation's ``meta`` holds ``{"column": ..., "govflow": CONTRACT_VERSION}``.
        """
        gx = great_expectations()
        return gx.ExpectationSuite(name=name or f"govflow-contract-{self.hash()[:12]}",
                                   expectations=expectations(self, mostly=1.0))


def great_expectations() -> Any:
    """The `great_expectations` module, imported on first use with its DeprecationWarnings silenced.

    GX takes seconds to import, so modules that only parse contracts do not pay for it.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # e.g. GX's `import sre_constants`
        import great_expectations as gx
        import great_expectations.expectations  # noqa: F401
        from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: F401
    return gx


def expectations(contract: Contract, *, mostly: float, present: Sequence[str] | None = None) -> list[Any]:
    """The GX expectations of `contract`; value rules only for the `present` columns (default: all)."""
    gxe = great_expectations().expectations
    found: list[Any] = [gxe.ExpectTableRowCountToBeBetween(
        min_value=contract.row_count_min, max_value=contract.row_count_max, meta={"column": None})]
    if contract.extra_columns == "forbid":
        found.append(gxe.ExpectTableColumnsToMatchSet(column_set=list(contract.columns), exact_match=True,
                                                      meta={"column": None}))
    for column, spec in contract.columns.items():
        meta = {"column": column}
        found.append(gxe.ExpectColumnToExist(column=column, meta=meta))
        if present is not None and column not in present:
            continue
        found.append(gxe.ExpectColumnValuesToNotBeNull(column=column, mostly=1 - spec.max_null_rate, meta=meta))
        if spec.min is not None or spec.max is not None:
            found.append(gxe.ExpectColumnValuesToBeBetween(
                column=column, min_value=spec.min, max_value=spec.max, mostly=mostly, meta=meta))
        if spec.allowed is not None:
            found.append(gxe.ExpectColumnValuesToBeInSet(column=column, value_set=spec.allowed, mostly=mostly,
                                                         meta=meta))
        if spec.unique:
            found.append(gxe.ExpectColumnValuesToBeUnique(column=column, meta=meta))
    return found


def logical_type(series: pd.Series) -> str:
    """The contract type of a column from its dtype (object columns by their values)."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    inferred = pd.api.types.infer_dtype(series, skipna=True)
    return {"integer": "integer", "floating": "float", "mixed-integer-float": "float", "boolean": "boolean",
            "datetime": "datetime", "datetime64": "datetime"}.get(inferred, "string")


def _bound(value: float, integer: bool, down: bool) -> int | float:
    if integer:
        return int(math.floor(value) if down else math.ceil(value))
    return float(value)


def _infer_column(series: pd.Series, is_id: bool, policy: Policy) -> ColumnContract:
    rules = policy.validation
    kind = logical_type(series)
    null_rate = float(series.isna().mean())
    spec: dict[str, Any] = {
        "type": kind, "unique": is_id,
        "max_null_rate": 0.0 if null_rate == 0 else round(min(1.0, null_rate + rules.null_rate_tolerance), 6),
    }
    values = series.dropna()
    if is_id or values.empty:  # an empty column (only allowed when unused) has no range or values to record
        return ColumnContract(**spec)
    if kind in ("integer", "float"):
        low, high = float(values.min()), float(values.max())
        slack = rules.range_slack * (high - low)
        lowest = low - slack if low - slack >= 0 or low < 0 else 0.0  # no negatives where none were seen
        spec["min"] = _bound(lowest, kind == "integer", down=True)
        spec["max"] = _bound(high + slack, kind == "integer", down=False)
    elif kind in ("string", "category"):
        distinct = pd.unique(values.astype(object) if kind == "category" else values)
        if len(distinct) <= rules.max_categories:
            spec["allowed"] = sorted((json_safe(v) for v in distinct), key=lambda v: (str(type(v)), v))
    return ColumnContract(**spec)


def infer_contract(frame: pd.DataFrame, *, id_columns: Sequence[str] = (), policy: Policy | None = None,
                   row_count_min: int = 1, row_count_max: int | None = None, unused: Sequence[str] = ()) -> Contract:
    """Infer a contract from training data: types, ranges, allowed values, null rates, unique ids.

    Ranges are widened by ``policy.validation.range_slack`` of the observed range on each side (not
    below 0 for a column that had no negatives); text columns with at most
    ``policy.validation.max_categories`` values get an allowed set; a column's largest null rate is
    its training null rate plus ``null_rate_tolerance``, or 0 for a column without nulls. The ``unused``
    columns (that no model sees) are recorded too, but may be entirely empty (then: any null rate).

    Raises
    ------
    DataError
        The frame is empty, an id column is missing, or a column has only missing values.
    """
    policy = policy or Policy()
    frame = require_frame(frame, "the training data")
    require_columns(frame, id_columns, "the training data")
    columns = {}
    for column in frame.columns:
        series = frame[column]
        if column not in unused:
            require_not_all_null(series, "the training data")
        columns[str(column)] = _infer_column(series, column in id_columns, policy)
    return Contract(columns=columns, row_count_min=row_count_min, row_count_max=row_count_max)


def fits(series: pd.Series, expected: str) -> tuple[bool, str]:
    """Whether a column's values satisfy the contract type, and the column's own logical type."""
    actual = logical_type(series)
    if actual in COMPATIBLE[expected]:
        return True, actual
    if expected == "integer" and actual == "float":  # ints read back with nulls become floats
        values = series.dropna().to_numpy(dtype=float)
        return bool(np.all(np.mod(values, 1) == 0)), actual
    return False, actual
