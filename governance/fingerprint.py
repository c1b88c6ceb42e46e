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

from governance.canonical import canonical

SCHEME = "fp1"


def _tag(digest: str) -> str:
    return f"{SCHEME}:{digest}"


def frame_schema(frame: pd.DataFrame) -> list[list[str]]:
    """The frame's schema as ``[[name, dtype], ...]`` in name order."""
    return [[str(name), str(frame[name].dtype)] for name in sorted(frame.columns, key=str)]


def schema_hash(frame: pd.DataFrame) -> str:
    return hashlib.sha256(canonical(frame_schema(frame))).hexdigest()


def _column_hashes(column: pd.Series) -> np.ndarray:
    if column.dtype == object:
        # Normalise every kind of missing value to one, so None and NaN hash alike.
        column = column.where(column.notna(), None)
    return pd.util.hash_pandas_object(column, index=False).to_numpy(dtype="<u8")


def fingerprint_frame(frame: pd.DataFrame) -> str:
    """Fingerprint of every cell and the schema of a DataFrame."""
    if frame.columns.duplicated().any():
        raise ValueError("cannot fingerprint a frame with duplicate column names")
    digest = hashlib.sha256()
    digest.update(canonical({"rows": len(frame), "schema": frame_schema(frame)}))
    for name in sorted(frame.columns, key=str):
        digest.update(_column_hashes(frame[name]).tobytes())
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
