"""Fingerprints: the scheme and its pinned golden values (fp2, and fp1 for older ledgers), a
reimplementation from the docstring, and the fingerprints of models, files and plain values.

Frames: stability and the encoding routes in test_fingerprint_frames.py, sensitivity to every cell,
dtype and row order in test_fingerprint_sensitivity.py."""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from govflow.governance.ledger.fingerprint import (
    SCHEME,
    _column_hashes,
    fingerprint,
    fingerprint_file,
    fingerprint_frame,
    fingerprint_model,
    fingerprint_value,
    frame_schema,
    schema_hash,
    scheme_of,
)
from tests.ledger.fingerprint_samples import (
    FP1_DISTINCT_STRINGS,
    FP1_EMPTY,
    FP1_FRAME,
    FP1_NO_ROWS,
    GOLDEN_DISTINCT_STRINGS,
    GOLDEN_EMPTY,
    GOLDEN_FRAME,
    GOLDEN_KINDS,
    GOLDEN_MIXED,
    GOLDEN_NO_ROWS,
    GOLDEN_SCHEMA,
    GOLDEN_VALUE,
    HELLO_SHA256,
    distinct_strings_frame,
    golden_frame,
    kinds_frame,
    mixed_frame,
    reference_fp2,
)

# --- golden -------------------------------------------------------------------------------------


def test_golden_frame_fingerprint_is_pinned() -> None:
    frame = golden_frame()
    assert fingerprint_frame(frame) == GOLDEN_FRAME
    assert schema_hash(frame) == GOLDEN_SCHEMA
    assert frame_schema(frame) == [
        ["age", "int64"], ["applied_at", "datetime64[ns]"], ["approved", "bool"], ["city", "category"],
        ["income", "float64"], ["sex", "object"]]


def test_golden_edge_cases_are_pinned() -> None:
    assert fingerprint_frame(golden_frame().iloc[:0]) == GOLDEN_NO_ROWS
    assert fingerprint_frame(pd.DataFrame()) == GOLDEN_EMPTY
    assert fingerprint_value({"b": [1, 2.5, "x"], "a": None}) == GOLDEN_VALUE


def test_golden_fingerprint_of_distinct_strings_is_pinned() -> None:
    assert fingerprint_frame(distinct_strings_frame()) == GOLDEN_DISTINCT_STRINGS


def test_golden_fingerprints_of_every_column_kind_are_pinned() -> None:
    assert fingerprint_frame(kinds_frame()) == GOLDEN_KINDS
    assert fingerprint_frame(mixed_frame()) == GOLDEN_MIXED


def test_the_header_and_a_column_stream_are_as_documented() -> None:
    """A reimplementation from the module docstring gives the same fingerprint (int and str columns)."""
    frame = pd.DataFrame({"b": ["ab", None, "c"], "a": pd.Series([1, -2, 3], dtype="int64")})
    u64 = lambda x: int(x).to_bytes(8, "little")  # noqa: E731
    a = b"fixed\n" + b"".join(int(x).to_bytes(8, "little", signed=True) for x in (1, -2, 3)) + u64(0)
    b = b"utf8\n" + b"".join(u64(o) for o in (0, 2, 2, 3)) + b"abc" + u64(1) + u64(1)
    header = b'{"rows":3,"schema":[["a","int64"],["b","object"]],"scheme":"fp2"}'
    expected = hashlib.sha256(header + hashlib.sha256(a).digest() + hashlib.sha256(b).digest()).hexdigest()
    assert fingerprint_frame(frame) == f"fp2:{expected}"


def test_a_reimplementation_from_the_docstring_agrees() -> None:
    for frame in (golden_frame(), golden_frame().iloc[:0], pd.DataFrame(), kinds_frame(3000), mixed_frame(),
                  distinct_strings_frame().iloc[:500]):
        assert fingerprint_frame(frame) == reference_fp2(frame)


# --- fp1, the scheme of older ledgers ------------------------------------------------------------


def test_fp1_is_still_computable_and_pinned() -> None:
    assert fingerprint_frame(golden_frame(), scheme="fp1") == FP1_FRAME
    assert fingerprint_frame(golden_frame().iloc[:0], scheme="fp1") == FP1_NO_ROWS
    assert fingerprint_frame(pd.DataFrame(), scheme="fp1") == FP1_EMPTY
    assert fingerprint_frame(distinct_strings_frame(), scheme="fp1") == FP1_DISTINCT_STRINGS
    assert fingerprint(golden_frame(), scheme=scheme_of(FP1_FRAME)) == ("dataset", FP1_FRAME)
    assert fingerprint_value({"b": [1, 2.5, "x"], "a": None}, scheme="fp1") == "fp1:" + GOLDEN_VALUE[4:]


def test_new_fingerprints_use_fp2_and_stored_ones_name_their_scheme() -> None:
    assert SCHEME == "fp2"
    assert scheme_of(FP1_FRAME) == "fp1" and scheme_of(GOLDEN_FRAME) == "fp2"
    for bad in ("fp9:00", "3fa2b1c9", "sha256:00"):
        with pytest.raises(ValueError):
            scheme_of(bad)
    with pytest.raises(ValueError, match="unknown fingerprint scheme 'fp0'"):
        fingerprint_frame(golden_frame(), scheme="fp0")


@pytest.mark.parametrize("missing", [None, np.nan, pd.NA, pd.NaT])
@pytest.mark.parametrize("rows", [50, 30_000])
def test_fp1_column_hashes_are_pandas_own(missing: object, rows: int) -> None:
    """Whatever route a column takes, its fp1 cell hashes are `hash_pandas_object`'s, all missing alike."""
    rng = np.random.default_rng(5)
    values = np.array([f"ü-{k}" for k in range(rows)], dtype=object)
    values[rng.integers(0, rows, rows // 10)] = missing
    column = pd.Series(values)
    reference = pd.util.hash_pandas_object(column.where(column.notna(), None), index=False).to_numpy()
    assert (_column_hashes(column) == reference).all()
    mixed = column.copy()
    mixed.iloc[:3] = [7, 7.0, True]  # mixed objects: stringified by pandas, the slow route
    reference = pd.util.hash_pandas_object(mixed.where(mixed.notna(), None), index=False).to_numpy()
    assert (_column_hashes(mixed) == reference).all()


# --- models, files, values ----------------------------------------------------------------------


def fitted(c: float = 1.0):  # type: ignore[no-untyped-def]
    from sklearn.linear_model import LogisticRegression

    x = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    return LogisticRegression(C=c).fit(x, [0, 1, 1, 0])


def test_model_fingerprint_is_over_its_pickle_bytes() -> None:
    model = fitted()
    data = pickle.dumps(model, protocol=5)
    assert fingerprint_model(model) == "fp2:" + hashlib.sha256(data).hexdigest()
    assert fingerprint_model(model, scheme="fp1") == "fp1:" + hashlib.sha256(data).hexdigest()
    assert fingerprint_model(pickle.loads(data)) == fingerprint_model(model)
    assert fingerprint_model(fitted(c=0.5)) != fingerprint_model(model)
    assert fingerprint(model) == ("model", fingerprint_model(model))


def test_file_fingerprint_is_over_its_bytes(tmp_path: Path) -> None:
    small = tmp_path / "hello.txt"
    small.write_bytes(b"hello\n")
    assert fingerprint_file(small) == f"fp2:{HELLO_SHA256}"
    assert fingerprint(small) == ("file", f"fp2:{HELLO_SHA256}")
    assert fingerprint(small, scheme="fp1") == ("file", f"fp1:{HELLO_SHA256}")
    large = tmp_path / "large.bin"  # more than one read block
    data = np.random.default_rng(1).integers(0, 256, 3 * (1 << 20) + 17, dtype=np.uint8).tobytes()
    large.write_bytes(data)
    assert fingerprint_file(large) == "fp2:" + hashlib.sha256(data).hexdigest()
    large.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    assert fingerprint_file(large) != "fp2:" + hashlib.sha256(data).hexdigest()


def test_value_fingerprint_is_canonical() -> None:
    assert fingerprint_value({"a": None, "b": [1, 2.5, "x"]}) == GOLDEN_VALUE
    assert fingerprint(("x", 1)) == ("value", fingerprint_value(["x", 1]))
    assert fingerprint(Path("/no/such/file")) == ("value", fingerprint_value("/no/such/file"))
    assert fingerprint_value(object()).startswith("fp2:")  # falls back to repr, never fails


def test_series_is_fingerprinted_as_a_one_column_frame() -> None:
    series = pd.Series([1, 2, 3], name="y")
    assert fingerprint(series) == ("dataset", fingerprint_frame(series.to_frame()))
    assert fingerprint(golden_frame()) == ("dataset", GOLDEN_FRAME)
