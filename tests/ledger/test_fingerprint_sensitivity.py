"""Frame fingerprints are sensitive: one cell, a dtype, row order, rows, column names, string
boundaries, value types, categories and time zones each change the value."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

import govflow.governance.ledger.fingerprint_fp2 as fp
from govflow.governance.ledger.fingerprint import fingerprint_frame
from tests.ledger.fingerprint_samples import GOLDEN_KINDS, KIND_ROWS, _stream, big_frame, kinds_frame

# --- sensitivity --------------------------------------------------------------------------------


def _changed(value: Any, column: str) -> Any:
    if column == "c":
        return "hi" if value != "hi" else "lo"
    if column == "m":
        return {7: 8, 2.5: 2.25, "7": "8", True: False}.get(value, "changed") if value is not None else 0
    if isinstance(value, bool | np.bool_):
        return not value
    if isinstance(value, float | np.floating):
        return np.nextafter(value, np.inf, dtype=type(value))
    if isinstance(value, int | np.integer):
        return value + 1
    if isinstance(value, pd.Timestamp):
        return value + pd.Timedelta(1, "ns")
    if value is None or value is pd.NA or value is pd.NaT:
        return "x"
    return value + "x"


@pytest.mark.parametrize("row", [0, KIND_ROWS // 2, KIND_ROWS - 1], ids=["first", "middle", "last"])
@pytest.mark.parametrize("column", list(kinds_frame(10).columns))
def test_one_cell_changed_anywhere_changes_it(row: int, column: str) -> None:
    frame = kinds_frame()
    changed = frame.copy()
    value = changed.at[row, column]
    changed.at[row, column] = _changed(value, column)
    assert changed[column].dtype == frame[column].dtype
    assert not changed[column].equals(frame[column])
    assert fingerprint_frame(changed) != GOLDEN_KINDS


@pytest.mark.parametrize("column", [c for c in kinds_frame(10).columns if c not in ("i", "b")])
def test_one_cell_set_missing_changes_it(column: str) -> None:
    frame = kinds_frame()
    changed = frame.copy()
    changed.loc[KIND_ROWS - 1, column] = None
    assert changed[column].dtype == frame[column].dtype
    assert fingerprint_frame(changed) != GOLDEN_KINDS


@pytest.mark.parametrize("dtype", ["int32", "float64", "Int64", "object", "int64[pyarrow]", "category"])
def test_dtype_change_changes_it(dtype: str) -> None:
    frame = big_frame()
    changed = frame.astype({"i": dtype})
    assert (changed["i"].astype("int64") == frame["i"]).all()
    assert fingerprint_frame(changed) != fingerprint_frame(frame)
    assert fingerprint_frame(frame.astype({"s": "string"})) != fingerprint_frame(frame)


def test_row_reorder_changes_it() -> None:
    for frame in (big_frame(), kinds_frame()):
        swapped = frame.iloc[[1, 0] + list(range(2, len(frame)))]
        assert fingerprint_frame(swapped) != fingerprint_frame(frame)
        assert fingerprint_frame(frame.iloc[::-1]) != fingerprint_frame(frame)


def test_rows_added_or_removed_change_it() -> None:
    frame = big_frame()
    assert fingerprint_frame(frame.iloc[:-1]) != fingerprint_frame(frame)
    assert fingerprint_frame(pd.concat([frame, frame.iloc[:1]])) != fingerprint_frame(frame)


def test_column_renamed_or_values_moved_between_columns_change_it() -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": [3, 4]})
    assert fingerprint_frame(frame.rename(columns={"a": "c"})) != fingerprint_frame(frame)
    assert fingerprint_frame(pd.DataFrame({"a": [3, 4], "b": [1, 2]})) != fingerprint_frame(frame)


Build = Callable[[list[Any]], pd.Series]
BUILDS: dict[str, Build] = {
    "object": lambda v: pd.Series(v, dtype=object),
    "object, through distinct objects": lambda v: pd.Series(np.array(v * (KIND_ROWS // 2), dtype=object)),
    "string": lambda v: pd.Series(v, dtype="string"),
    "string[pyarrow]": lambda v: pd.Series(v, dtype="string[pyarrow]"),
    "mixed object": lambda v: pd.Series([*v, 1], dtype=object),
    "category": lambda v: pd.Series(v, dtype="category"),
}


@pytest.mark.parametrize("build", BUILDS.values(), ids=BUILDS.keys())
def test_strings_that_concatenate_alike_differ(build: Build) -> None:
    def fingerprint_of(values: list[Any]) -> str:
        return fingerprint_frame(pd.DataFrame({"s": build(values)}))

    assert fingerprint_of(["ab", "c"]) != fingerprint_of(["a", "bc"])
    assert fingerprint_of(["a", ""]) != fingerprint_of(["a", None])
    assert fingerprint_of(["", "a"]) != fingerprint_of(["a", ""])


def test_values_of_different_types_differ_in_a_mixed_column() -> None:
    ones = ([1, "a"], ["1", "a"], [1.0, "a"], [True, "a"], [b"1", "a"], [pd.Timedelta(1), "a"])
    assert len({_stream(v) for v in ones}) == len(ones)  # equal in Python (1 == 1.0 == True), not here
    assert _stream([np.int64(1), "a"]) == _stream([1, "a"])
    assert _stream([np.float32(0.5), "a"]) == _stream([0.5, "a"])


def test_categories_count_used_or_not() -> None:
    a = pd.Series(pd.Categorical(["x", "y"], categories=["x", "y"]))
    b = pd.Series(pd.Categorical(["x", "y"], categories=["y", "x"]))
    c = pd.Series(pd.Categorical(["x", "y"], categories=["x", "y", "z"]))
    d = pd.Series(pd.Categorical(["x", "y"], categories=["x", "y"], ordered=True))
    fps = {fingerprint_frame(pd.DataFrame({"k": s})) for s in (a, b, c, d)}
    assert len(fps) == 4


def test_timezone_counts_and_instants_are_utc() -> None:
    utc = pd.Series(pd.to_datetime(["2024-03-31 00:30", None]).tz_localize("UTC"))
    berlin = utc.dt.tz_convert("Europe/Berlin")
    assert fingerprint_frame(pd.DataFrame({"t": utc})) != fingerprint_frame(pd.DataFrame({"t": berlin}))
    streams = [fp._digest(fp._encode(s)) for s in (utc, berlin, utc.dt.tz_localize(None))]
    assert streams[0] == streams[1] == streams[2]


def test_duplicate_column_names_are_refused() -> None:
    for columns in (["a", "a"], [1, "1"]):
        frame = pd.DataFrame([[1, 2]], columns=columns)
        with pytest.raises(ValueError, match="cannot fingerprint a frame with duplicate column names"):
            fingerprint_frame(frame)
