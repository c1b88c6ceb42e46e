"""Checks on the frames and arrays handed to a check, with messages that say what to fix.

Every check validates its inputs here first, so bad input fails with a `DataError` naming the column
and the fix instead of a library traceback deep inside fairlearn, Evidently or scikit-learn. The
messages are constants so that tests can assert their exact text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from govflow.errors import DataError

EMPTY = "{what} is empty (0 rows): pass at least one row"
MISSING_COLUMN = (
    "column '{column}' is not in {what} (its columns: {available}): "
    "fix the column name in govflow.yaml or add the column to the data"
)
WRONG_DTYPE = "column '{column}' in {what} has dtype {dtype}, expected {expected}: {fix}"
NOT_BINARY = (
    "column '{column}' has {count} distinct values ({values}), but this check needs a binary outcome: "
    "map it to two classes (the favourable outcome and the rest) first"
)
UNKNOWN_POSITIVE_LABEL = (
    "positive label {label!r} is not a value of column '{column}' (its values: {values}): "
    "set data.positive_label to the favourable one"
)
ALL_NULL = "column '{column}' in {what} has only missing values: fill it, or drop it from the config"
SOME_NULL = "column '{column}' has {count} missing values: drop or fill those rows before the check"
SINGLE_GROUP = (
    "sensitive feature '{column}' has a single group ({group!r}): fairness needs at least two groups; "
    "check the column, or its bins in data.sensitive_features"
)
LENGTH_MISMATCH = (
    "{first} has {first_rows} rows but {second} has {second_rows}: "
    "pass rows aligned one to one (same length, same order)"
)
NOT_A_FRAME = "{what} must be a pandas DataFrame, got {type}: load it with pandas first"


def listing(values: Iterable[Any], limit: int = 6) -> str:
    """Up to `limit` values, comma separated, with "..." when there are more."""
    items = [repr(v) if isinstance(v, str) else str(v) for v in values]
    return ", ".join(items[:limit]) + (", ..." if len(items) > limit else "")


def require_frame(frame: Any, what: str) -> pd.DataFrame:
    """`frame` as a DataFrame with at least one row."""
    if not isinstance(frame, pd.DataFrame):
        raise DataError(NOT_A_FRAME.format(what=what, type=type(frame).__name__))
    if len(frame) == 0:
        raise DataError(EMPTY.format(what=what))
    return frame


def require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Every one of `columns` is in `frame`."""
    for column in columns:
        if column not in frame.columns:
            available = listing([str(c) for c in frame.columns], limit=12)
            raise DataError(MISSING_COLUMN.format(column=column, what=what, available=available))


def require_same_length(named: Mapping[str, Any]) -> None:
    """All the given sequences have as many rows as the first one; None values are skipped."""
    present = [(name, len(value)) for name, value in named.items() if value is not None]
    first, rows = present[0]
    for name, n in present[1:]:
        if n != rows:
            raise DataError(LENGTH_MISMATCH.format(first=first, first_rows=rows, second=name, second_rows=n))


def as_series(values: Any, name: str) -> pd.Series:
    """A Series over a fresh RangeIndex (inputs are aligned by position), named after its column."""
    if isinstance(values, pd.DataFrame):
        if values.shape[1] != 1:
            raise DataError(f"{name} must be one column, got {values.shape[1]}: pass a Series or an array")
        values = values.iloc[:, 0]
    series = values.reset_index(drop=True) if isinstance(values, pd.Series) else pd.Series(np.asarray(values))
    if series.name is None:
        series.name = name
    return series


def require_not_all_null(series: pd.Series, what: str) -> None:
    """At least one value of `series` is present."""
    if len(series) and series.isna().all():
        raise DataError(ALL_NULL.format(column=series.name, what=what))


def require_numeric(series: pd.Series, what: str, expected: str, fix: str) -> None:
    """`series` has a numeric (not boolean) dtype."""
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        raise DataError(WRONG_DTYPE.format(column=series.name, what=what, dtype=series.dtype,
                                           expected=expected, fix=fix))


def _match_label(label: Any, values: Sequence[Any]) -> Any:
    if label in values:
        return label
    # A label written as "1" in YAML for an integer column (or 1 for "1") still names that class.
    same_text = [v for v in values if str(v) == str(label)]
    return same_text[0] if len(same_text) == 1 else None


def encode_binary(y_true: pd.Series, positive_label: Any, y_pred: pd.Series | None = None,
                  what: str = "the labels") -> tuple[np.ndarray, np.ndarray | None]:
    """Map labels to 1 (the positive, favourable label) and 0, checking they are binary.

    `y_pred`, when given, must use the same labels as `y_true`.
    """
    for series in (y_true, y_pred):
        if series is None:
            continue
        require_not_all_null(series, what)
        missing = int(series.isna().sum())
        if missing:
            raise DataError(SOME_NULL.format(column=series.name, count=missing))
    values = sorted(pd.unique(y_true), key=str)
    if len(values) > 2:
        raise DataError(NOT_BINARY.format(column=y_true.name, count=len(values), values=listing(values)))
    label = _match_label(positive_label, values)
    if label is None:
        raise DataError(UNKNOWN_POSITIVE_LABEL.format(label=positive_label, column=y_true.name,
                                                      values=listing(values)))
    encoded_pred = None
    if y_pred is not None:
        union = sorted(set(pd.unique(y_pred)) | set(values), key=str)
        if len(union) > 2:
            raise DataError(NOT_BINARY.format(column=y_pred.name, count=len(union), values=listing(union)))
        encoded_pred = (y_pred.to_numpy() == label).astype(np.int8)
    return (y_true.to_numpy() == label).astype(np.int8), encoded_pred
