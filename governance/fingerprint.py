"""Versioned content fingerprints: the identity of data sets, models, files and plain values.

Every fingerprint starts with its scheme version (``fp1:``) so that a future change of scheme is
visible instead of silently breaking lineage. Scheme ``fp1``:

* **frame**: sha256 over a header (the frame's shape and, per column, its name and dtype) and then,
  per column, the little-endian uint64 cell hashes of ``pandas.util.hash_pandas_object(column,
  index=False)``. Every cell of every row counts (MLflow's dataset digest samples only the first
  10,000 rows). Columns are taken in **name order**, so reordering columns keeps the fingerprint,
  while reordering rows or changing any cell or dtype changes it. All missing values (None, NaN,
  NaT, pd.NA) in a column hash alike. The index is not part of the content.
* **model**: sha256 over the model's pickle bytes (protocol 5).
* **file**: sha256 over the file's bytes (streamed).
* **value**: sha256 over the canonical JSON of a plain value (see ``governance.canonical``);
  values JSON cannot hold fall back to their ``repr``.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype

from governance.canonical import canonical

SCHEME = "fp1"


def _tag(digest: str) -> str:
    return f"{SCHEME}:{digest}"


def frame_schema(frame: pd.DataFrame) -> list[list[str]]:
    """The frame's schema as ``[[name, dtype], ...]`` in name order."""
    return [[str(name), str(frame[name].dtype)] for name in sorted(frame.columns, key=str)]


def schema_hash(frame: pd.DataFrame) -> str:
    return hashlib.sha256(canonical(frame_schema(frame))).hexdigest()


MISSING = np.iinfo(np.uint64).max  # the cell hash pandas gives a missing value (categorize=True)


def _column_hashes(column: pd.Series) -> np.ndarray:
    """The uint64 cell hashes of one column: ``hash_pandas_object(column, index=False)``.

    With pandas' default ``categorize=True`` every missing value (None, NaN, NaT, pd.NA) in an
    object column hashes alike, and unlike the string "None". A column of strings with mostly
    distinct values takes a faster route to the very same hashes (factorizing 1M distinct strings
    costs five times the hashing): each string hashed directly, missing cells then set as above.
    """
    if column.dtype == object and len(column) > 10_000 and _mostly_distinct_strings(column):
        values = column.to_numpy()
        hashes = pd.util.hash_array(values, categorize=False)
        if infer_dtype(values, skipna=False) != "string":  # some cells are missing
            hashes[pd.isna(values)] = MISSING
        return hashes.astype("<u8", copy=False)
    return pd.util.hash_pandas_object(column, index=False).to_numpy(dtype="<u8")


def _mostly_distinct_strings(column: pd.Series) -> bool:
    # Only where the result is provably the same: every present value a str (a mixed column is
    # stringified differently with and without categorizing).
    if infer_dtype(column, skipna=True) != "string":
        return False
    sample = column.iloc[:10_000]
    return bool(sample.nunique() > len(sample) // 2)


def fingerprint_frame(frame: pd.DataFrame) -> str:
    """Fingerprint of every cell and the schema of a DataFrame."""
    if frame.columns.duplicated().any():
        raise ValueError("cannot fingerprint a frame with duplicate column names")
    digest = hashlib.sha256()
    digest.update(canonical({"rows": len(frame), "schema": frame_schema(frame)}))
    for name in sorted(frame.columns, key=str):
        digest.update(np.ascontiguousarray(_column_hashes(frame[name])).data)  # the buffer, no copy
    return _tag(digest.hexdigest())


def fingerprint_bytes(data: bytes) -> str:
    return _tag(hashlib.sha256(data).hexdigest())


def fingerprint_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return _tag(digest.hexdigest())


def model_bytes(model: Any) -> bytes:
    return pickle.dumps(model, protocol=5)


def fingerprint_model(model: Any) -> str:
    return fingerprint_bytes(model_bytes(model))


def fingerprint_value(value: Any) -> str:
    try:
        data = canonical(value)
    except (TypeError, ValueError):
        data = repr(value).encode("utf-8")
    return fingerprint_bytes(data)


def is_model(value: Any) -> bool:
    """A fitted scikit-learn style estimator (has ``fit`` and ``predict``)."""
    return hasattr(value, "fit") and (hasattr(value, "predict") or hasattr(value, "transform"))


def fingerprint(value: Any) -> tuple[str, str]:
    """``(kind, fingerprint)`` for any value a step takes or returns."""
    if isinstance(value, pd.DataFrame):
        return "dataset", fingerprint_frame(value)
    if isinstance(value, pd.Series):
        return "dataset", fingerprint_frame(value.to_frame(name=value.name or "value"))
    if isinstance(value, Path):
        return ("file", fingerprint_file(value)) if value.is_file() else ("value", fingerprint_value(str(value)))
    if is_model(value):
        return "model", fingerprint_model(value)
    return "value", fingerprint_value(value)
