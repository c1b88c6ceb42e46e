"""Frame fingerprints are stable: a rebuilt frame, column order, the index, the thread pool, strided
blocks and every route for strings give the same value; all missing values hash alike, -0.0 as 0.0."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import govflow.governance.ledger.fingerprint_fp2 as fp
from govflow.governance.ledger.fingerprint import fingerprint_frame, schema_hash
from tests.ledger.fingerprint_samples import (
    GOLDEN_FRAME,
    GOLDEN_KINDS,
    GOLDEN_SCHEMA,
    KIND_ROWS,
    _stream,
    big_frame,
    golden_frame,
    kinds_frame,
    reference_fp2,
)

# --- stability ----------------------------------------------------------------------------------


def test_same_frame_rebuilt_has_the_same_fingerprint() -> None:
    assert fingerprint_frame(golden_frame()) == fingerprint_frame(golden_frame())
    for frame in (big_frame(), kinds_frame()):
        assert fingerprint_frame(frame) == fingerprint_frame(frame.copy(deep=True))
        roundtrip = pd.DataFrame({name: pd.Series(list(frame[name]), dtype=frame[name].dtype) for name in frame.columns})
        assert fingerprint_frame(roundtrip) == fingerprint_frame(frame)


def test_column_order_is_irrelevant() -> None:
    """Documented: columns are taken in name order."""
    frame = golden_frame()
    assert fingerprint_frame(frame[list(reversed(frame.columns))]) == GOLDEN_FRAME
    assert schema_hash(frame[sorted(frame.columns, reverse=True)]) == GOLDEN_SCHEMA
    frame = kinds_frame()
    assert fingerprint_frame(frame[list(reversed(frame.columns))]) == GOLDEN_KINDS


def test_index_is_not_content() -> None:
    assert fingerprint_frame(golden_frame().set_axis([10, 20, 30, 40])) == GOLDEN_FRAME
    frame = kinds_frame()
    assert fingerprint_frame(frame.set_axis(np.arange(len(frame))[::-1])) == GOLDEN_KINDS


def test_the_thread_pool_does_not_change_it(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = kinds_frame()
    monkeypatch.setattr(fp, "PARALLEL_CELLS", 0)
    monkeypatch.setattr(fp, "_workers", lambda: 3)
    assert fingerprint_frame(frame) == GOLDEN_KINDS
    monkeypatch.setattr(fp, "PARALLEL_CELLS", 1 << 62)
    assert fingerprint_frame(frame) == GOLDEN_KINDS


def one_block_frame(dtype: str) -> pd.DataFrame:
    """A frame made from one 2-D array: its columns are strided views of a single block."""
    rng = np.random.default_rng(4)
    shape = (5000, 6)
    if dtype.startswith("float"):
        block = rng.normal(size=shape).astype(dtype)
        block[[0, 1234, 4999], [0, 1, 5]] = np.nan
        block[[7, 2048], [2, 3]] = -0.0
    elif dtype == "datetime64[ns]":
        block = rng.integers(0, 2**60, shape).view("datetime64[ns]")
        block[[3, 4096], [4, 0]] = np.datetime64("NaT")
    else:
        block = rng.integers(-100, 100, shape).astype(dtype)
    return pd.DataFrame(block, columns=list("abcdef"))


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "int8", "bool", "datetime64[ns]"])
def test_a_frame_of_one_2d_block_equals_the_same_columns_apart(dtype: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Strided columns are read in lockstep chunks of rows: the same result as contiguous ones."""
    one_block = one_block_frame(dtype)
    assert not one_block["a"].to_numpy().flags.c_contiguous
    apart = pd.DataFrame({name: np.ascontiguousarray(one_block[name].to_numpy()) for name in one_block.columns})
    assert apart["a"].to_numpy().flags.c_contiguous
    expected = fingerprint_frame(apart)
    assert expected == reference_fp2(one_block)
    monkeypatch.setattr(fp, "STRIDED_CHUNK_ROWS", 1000)  # missing cells in several chunks
    assert fingerprint_frame(one_block) == expected
    monkeypatch.setattr(fp, "PARALLEL_CELLS", 0)
    monkeypatch.setattr(fp, "_workers", lambda: 2)
    assert fingerprint_frame(one_block) == expected


@pytest.mark.parametrize("missing", [None, np.nan, pd.NA, pd.NaT, np.float32("nan"), float("nan")])
def test_every_route_for_strings_gives_the_same_stream(missing: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through distinct objects, through pyarrow cell by cell, or in Python: one encoding."""
    words = np.array([f"w-{k}-ü" for k in range(30)], dtype=object)
    values = words[np.random.default_rng(2).integers(0, 30, KIND_ROWS)]
    values[[0, 777, KIND_ROWS - 1]] = missing
    shared = _stream(values)
    missing_mask = pd.isna(values)
    exact = fp._digest(fp._utf8_exact(values[~missing_mask], missing_mask))
    copies = np.array([None if m else "".join(list(v)) for v, m in zip(values, missing_mask)], dtype=object)
    assert shared == exact == _stream(copies) == _stream(np.where(missing_mask, None, values))  # type: ignore[call-overload]
    monkeypatch.setattr(fp, "DICTIONARY_MIN_ROWS", 1 << 62)
    assert _stream(values) == exact
    monkeypatch.setattr(fp, "CONVERT_ROWS", 1000)  # converted in slices, missing cells in several
    assert _stream(values) == exact


def test_a_chunked_pyarrow_string_column_equals_one_piece() -> None:
    import pyarrow as pa

    pieces: list[list[str | None]] = [["ab", None], [], ["c", "", None, "ü"], ["d"]]
    chunked = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array(pieces, type=pa.large_string())))
    whole = pd.Series([cell for piece in pieces for cell in piece], dtype="string[pyarrow]")
    assert str(chunked.dtype) == str(whole.dtype) == "string"
    assert fingerprint_frame(pd.DataFrame({"s": chunked})) == fingerprint_frame(pd.DataFrame({"s": whole}))
    assert fingerprint_frame(pd.DataFrame({"s": whole})) == reference_fp2(pd.DataFrame({"s": whole}))
    sliced = pa.array(["zz", "ab", None, "c", "", None, "ü", "d"], type=pa.string()).slice(1)  # an offset
    assert fp._digest(fp._utf8_arrow([sliced])) == fp._digest(fp._encode(whole))


# --- missing values, zeros ----------------------------------------------------------------------


@pytest.mark.parametrize("rows", [3, KIND_ROWS])
def test_all_missing_values_hash_alike_in_an_object_column(rows: int) -> None:
    def frame(missing: object) -> pd.DataFrame:
        values = np.array(["a", "b", "c"] * (rows // 3), dtype=object)
        values[1] = missing
        return pd.DataFrame({"x": values})

    base = fingerprint_frame(frame(None))
    for missing in (np.nan, pd.NA, pd.NaT, float("nan"), np.float32("nan"), np.datetime64("NaT")):
        assert fingerprint_frame(frame(missing)) == base, missing
    assert fingerprint_frame(frame("None")) != base
    assert fingerprint_frame(frame("")) != base
    assert fingerprint_frame(frame("nan")) != base


def test_nan_and_none_hash_alike_in_every_kind() -> None:
    assert fingerprint_frame(pd.DataFrame({"x": [1.5, np.nan]})) == fingerprint_frame(pd.DataFrame({"x": [1.5, None]}))
    payload = np.array([1.5, np.nan])
    payload.view(np.int64)[1] |= 0xDEAD  # a NaN with another payload
    assert fingerprint_frame(pd.DataFrame({"x": payload})) == fingerprint_frame(pd.DataFrame({"x": [1.5, np.nan]}))
    assert fingerprint_frame(pd.DataFrame({"x": [1.5, np.nan]})) != fingerprint_frame(pd.DataFrame({"x": [1.5, 0.0]}))
    for dtype in ("Int64", "Float64", "boolean", "string", "category"):
        a = pd.DataFrame({"x": pd.Series([1, None], dtype=object).astype(dtype)})
        b = pd.DataFrame({"x": pd.Series([1, np.nan], dtype=object).astype(dtype)})
        assert fingerprint_frame(a) == fingerprint_frame(b), dtype
    masked = pd.array([0.0, 1.0], dtype="Float64")
    nan_in_data = masked / masked  # a NaN that pandas does not mask: missing all the same
    assert fingerprint_frame(pd.DataFrame({"x": nan_in_data})) == fingerprint_frame(
        pd.DataFrame({"x": pd.array([None, 1.0], dtype="Float64")}))
    mixed = [1, "a", None]
    assert _stream(mixed) == _stream([1, "a", np.nan]) == _stream([1, "a", pd.NA]) == _stream([1, "a", pd.NaT])


def test_negative_zero_is_zero() -> None:
    for dtype in ("float64", "float32", "float16", "Float64"):
        a = pd.DataFrame({"x": pd.Series([0.0, 1.0], dtype=dtype)})
        b = pd.DataFrame({"x": pd.Series([-0.0, 1.0], dtype=dtype)})
        assert fingerprint_frame(a) == fingerprint_frame(b), dtype
    assert _stream([-0.0, "a"]) == _stream([0.0, "a"])
    tiny = np.array([5e-324, 1.0])  # a subnormal stays itself
    assert fingerprint_frame(pd.DataFrame({"x": tiny})) != fingerprint_frame(pd.DataFrame({"x": [0.0, 1.0]}))
