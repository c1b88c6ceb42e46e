"""Sample frames, pinned fingerprints and a slow reference fp2 for the fingerprint tests.

The reference is written from the docstring of govflow.governance.ledger.fingerprint_fp2 alone, cell by cell,
to check the real (fast) encodings against."""

from __future__ import annotations

import hashlib
import struct
from typing import Any

import numpy as np
import pandas as pd

import govflow.governance.ledger.fingerprint_fp2 as fp
from govflow.canonical import canonical

# Pinned: if a pandas/numpy/pyarrow upgrade (or a code change) moves these, every recorded lineage breaks.
# Do not update them to make the test pass: bump the scheme (fp3) and keep fp2 computable instead.
GOLDEN_FRAME = "fp2:168252304eccc8283a343dffa95ccdbe6acce2ea1364aaa6e82d0020cf4bfd38"
GOLDEN_SCHEMA = "db550d9bddda81262cac3c224c14d5b7af4a9706848efef531ab4840df3e9e6b"
GOLDEN_NO_ROWS = "fp2:da05773ebfedf18cb6556b3be0084d0117b77fe6d5c1edb37884474f0c14104a"
GOLDEN_EMPTY = "fp2:52f21a9f1f44f28a91b36623e88975f1d80ed1ddf3986c11aa91f5e40a80b4ad"
GOLDEN_VALUE = "fp2:cacedc786abc936ff5388c20aad7a580a43bd81efb4e8df98d138f3816b04bab"
GOLDEN_DISTINCT_STRINGS = "fp2:647f34211708c8cd83f08cf3493cab1a539026dd5e336a24d059a7e29d8a5b7e"
GOLDEN_KINDS = "fp2:ac067d7bebfb181ff8f7aea843bbf4ab1c5fab12f2969228f26313dff579a265"
GOLDEN_MIXED = "fp2:0afb972b480f5592755998b03589d15e02f594caa17e727da795ce2d01aceec7"
HELLO_SHA256 = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"  # sha256(b"hello\n")

# fp1, the scheme of older ledgers: still computable, still pinned.
FP1_FRAME = "fp1:6a9a0c7197a03338d923811298101e26f50b45b9a7f9efda3b8aab12c54cf2ea"
FP1_NO_ROWS = "fp1:c0b7a93e3c473d3aba6c74070f9ba7047eddedeb6b369757796e78c6c6653f75"
FP1_EMPTY = "fp1:c5c4305c62806190440c01926d63613d788165f3ae7bfc155289f09f95068a7c"
FP1_DISTINCT_STRINGS = "fp1:e427e799fd13917a62561dbfd2238f4845994c3fc2983867e6081c1cb303fcdc"


def golden_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "age": pd.Series([25, 41, 67, 33], dtype="int64"),
        "income": [1250.5, np.nan, 3100.0, -0.25],
        "sex": ["f", "m", None, "f"],
        "approved": [True, False, True, True],
        "applied_at": pd.to_datetime(
            ["2024-01-02 00:00:00", "2024-02-29 12:30:00", None, "2025-12-31 23:59:59.999999"], format="ISO8601"),
        "city": pd.Categorical(["Köln", "Paris", "Köln", "Zürich"]),
    })


def big_frame(rows: int = 1000) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame({
        "i": rng.integers(0, 1_000_000, rows),
        "f": rng.normal(size=rows),
        "s": [f"customer-{n}" for n in rng.integers(0, 50, rows)],
        "b": rng.integers(0, 2, rows).astype(bool),
    })


KIND_ROWS = 30_000  # above DICTIONARY_MIN_ROWS: the string column "s" takes the route through distinct objects


def kinds_frame(rows: int = KIND_ROWS) -> pd.DataFrame:
    """One column of every kind fp2 encodes, with missing cells where the dtype has them."""
    rng = np.random.default_rng(11)
    words = np.array([f"wört-{k}" for k in range(40)] + [None], dtype=object)  # one object per word
    floats = rng.normal(size=rows)
    floats[rng.integers(1, rows - 1, 50)] = np.nan
    floats[5:8] = [0.0, -0.0, np.inf]
    stamps = pd.Series(pd.to_datetime(rng.integers(0, 2_000_000_000, rows), unit="s"))
    stamps[rng.integers(1, rows - 1, 20)] = pd.NaT
    nullable = pd.Series(rng.integers(-50, 50, rows), dtype="Int64")
    nullable[rng.integers(1, rows - 1, 20)] = pd.NA
    mixed = np.array([(7, 2.5, "7", True, None)[k % 5] for k in range(rows)], dtype=object)
    mixed[rows // 2] = 12
    mixed[-1] = "last"
    return pd.DataFrame({
        "i": rng.integers(-1_000_000, 1_000_000, rows),
        "f": floats,
        "f32": rng.normal(size=rows).astype("float32"),
        "b": rng.integers(0, 2, rows).astype(bool),
        "s": words[np.r_[0, rng.integers(0, len(words), rows - 2), 1]],
        "id": np.array([f"customer-{k:07d}" for k in rng.permutation(rows)], dtype=object),
        "c": pd.Categorical.from_codes(np.r_[0, rng.integers(-1, 5, rows - 2), 1], ["lo", "mid", "hi", "x", "y"]),
        "t": stamps,
        "tz": stamps.dt.tz_localize("UTC").dt.tz_convert("Europe/Berlin"),
        "n": nullable,
        "u": pd.Series([f"u{k % 97}" for k in range(rows)], dtype="string"),
        "m": mixed,
    })


def mixed_frame() -> pd.DataFrame:
    """Object columns that are not all strings: the exact route, cell by cell."""
    return pd.DataFrame({
        "m": pd.Series([1, "1", 1.0, True, None, b"1", -0.0, pd.Timestamp("2024-01-01"), np.int64(2), "ü"],
                       dtype=object),
    })

def distinct_strings_frame() -> pd.DataFrame:
    """20,000 distinct strings with three missing cells: the route for id-like columns."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"id": np.array([f"customer-{k:06d}" for k in rng.permutation(20000)], dtype=object)})
    frame.loc[[0, 9999, 19999], "id"] = [None, np.nan, pd.NA]
    return frame


def _u64(x: int) -> bytes:
    return int(x).to_bytes(8, "little")


def reference_fp2(frame: pd.DataFrame) -> str:
    """fp2 written from the module docstring alone, cell by cell (slow; for checking the real thing)."""
    names = sorted(frame.columns, key=str)
    schema = [[str(name), str(frame[name].dtype)] for name in names]
    digest = hashlib.sha256(canonical({"rows": len(frame), "schema": schema, "scheme": "fp2"}))
    for name in names:
        digest.update(hashlib.sha256(reference_stream(frame[name])).digest())
    return "fp2:" + digest.hexdigest()


def reference_stream(column: pd.Series) -> bytes:
    dtype, cells = column.dtype, list(column)
    missing = [i for i, v in enumerate(cells) if pd.isna(v)]
    m = _u64(len(missing)) + b"".join(_u64(i) for i in missing)
    if isinstance(dtype, pd.CategoricalDtype):
        categories = column.cat.categories
        count = len(categories)
        width = 1 if count < 127 else 2 if count < 32767 else 4 if count < 2**31 - 1 else 8
        head = canonical({"categories": count, "dtype": str(categories.dtype), "ordered": bool(dtype.ordered)})
        codes = b"".join(int(c).to_bytes(width, "little", signed=True) for c in column.cat.codes)
        return b"category\n" + head + b"\n" + hashlib.sha256(reference_stream(pd.Series(categories))).digest() + codes
    numpy_dtype = getattr(dtype, "numpy_dtype", dtype)
    if isinstance(dtype, pd.DatetimeTZDtype) or numpy_dtype.kind in "mM":
        assert str(dtype).startswith(("datetime64[ns", "timedelta64[ns")), "the reference knows nanoseconds only"
        return b"fixed\n" + b"".join(_u64(0) if pd.isna(v) else v.value.to_bytes(8, "little", signed=True)
                                      for v in cells) + m
    if numpy_dtype.kind in "biuf":
        size = numpy_dtype.itemsize
        def value(v: Any) -> bytes:
            if pd.isna(v):
                return bytes(size)
            if numpy_dtype.kind == "f":
                return struct.pack({2: "<e", 4: "<f", 8: "<d"}[size], float(v) + 0.0)
            return int(v).to_bytes(size, "little", signed=numpy_dtype.kind != "u")
        return b"fixed\n" + b"".join(value(v) for v in cells) + m
    present = [v for v in cells if not pd.isna(v)]
    if all(isinstance(v, str) for v in present):
        data = [b"" if pd.isna(v) else v.encode("utf-8", "surrogatepass") for v in cells]
        offsets = np.concatenate([[0], np.cumsum([len(d) for d in data])]).astype("<i8").tobytes()
        return b"utf8\n" + offsets + b"".join(data) + m

    def cell(v: Any) -> bytes:
        sized = lambda tag, data: tag + _u64(len(data)) + data  # noqa: E731
        if isinstance(v, bool | np.bool_):
            return b"?" + bytes([bool(v)])
        if isinstance(v, int | np.integer):
            return sized(b"i", str(int(v)).encode())
        if isinstance(v, float | np.floating):
            return b"f" + struct.pack("<d", float(v) + 0.0)
        if isinstance(v, str):
            return sized(b"s", v.encode("utf-8", "surrogatepass"))
        if isinstance(v, bytes):
            return sized(b"b", v)
        return sized(b"o", f"{type(v).__name__}:{v}".encode())
    return b"objects\n" + b"".join(b"N" if pd.isna(v) else cell(v) for v in cells)



def _stream(values: list[Any] | np.ndarray) -> bytes:
    return fp._digest(fp._objects(np.array(values, dtype=object)))
