"""Versioned content fingerprints: the identity of data sets, models, files and plain values.

Every fingerprint starts with its scheme (``fp2:<64 hex>``) so that a change of scheme is visible
instead of silently breaking lineage. New records get the current scheme, `SCHEME` (``fp2``). A
fingerprint stored under an older scheme is recomputed with that scheme:
``fingerprint(value, scheme=scheme_of(stored)) == stored``. The same content under two schemes gives
two different fingerprints (a data set recorded under ``fp1`` and again under ``fp2`` is two ledger
entities); model, file and value fingerprints only differ in their prefix.

Scheme ``fp2`` (current)
------------------------
``sha256`` is SHA-256; ``u64(x)`` is ``x`` as 8 bytes unsigned little-endian; ``canonical`` is
govflow's canonical JSON (``govflow.canonical``: sorted keys, ``(",", ":")`` separators, UTF-8).

* **model**: ``sha256(pickle.dumps(model, protocol=5))``; **file**: ``sha256`` of the file's bytes;
  **value**: ``sha256(canonical(value))``, or of ``repr(value)`` in UTF-8 where JSON cannot hold it.
  (The same digests as ``fp1``.)
* **frame** (a Series is the one-column frame named after it, or ``value``): ::

      sha256( canonical({"rows": n, "schema": [[name, dtype], ...], "scheme": "fp2"})
              || sha256(S_1) || ... || sha256(S_k) )          (each column digest as its 32 raw bytes)

  Columns, and their schema entries ``[str(name), str(dtype)]``, are in order of ``str(name)``, so
  reordering columns keeps the fingerprint. Frames whose column names are equal as strings are refused.
  The index is not content. ``S_i`` is column i's byte stream over its ``n`` cells in row order, so
  row order counts; its first bytes name its encoding. Missing cells (``pd.isna``: None, NaN of any
  payload, NaT, pd.NA, ...) all hash alike; the numeric and string encodings list them at the end as
  ``M = u64(m) || u64(r_1) || ... || u64(r_m)``, the ascending row numbers (from 0) of the ``m``
  missing cells. Every part before ``M`` has a length fixed by ``n`` or by what precedes it.

  - ``b"fixed\\n" || V || M`` for numpy bool, int, uint and float (2, 4 or 8 bytes) columns, numpy
    ``datetime64``/``timedelta64``, tz-aware datetimes and pandas' nullable ``Int*``, ``UInt*``,
    ``Float*`` and ``boolean`` (and pyarrow-backed numbers). ``V`` is the n values, each
    little-endian in the dtype's own width (bool: one byte 0 or 1; nullable dtypes: their numpy
    dtype's width). A missing cell (also a NaN inside a nullable ``Float*``) is in ``M`` and its
    value is all zero bytes; ``-0.0`` is written as ``0.0`` (as bit patterns: no CPU flush-to-zero
    mode changes a subnormal). Datetimes and timedeltas are int64 counts of the dtype's unit since
    1970-01-01T00:00 (tz-aware: UTC instants); the unit and the zone are in the header's dtype,
    e.g. ``datetime64[ns, Europe/Berlin]``.
  - ``b"utf8\\n" || O || B || M`` for columns (object, ``string``, pyarrow string) whose every
    non-missing cell is a ``str``: ``B`` is the cells' UTF-8 bytes concatenated (a lone surrogate
    as ``surrogatepass`` encodes it), a missing cell as no bytes; ``O`` is the n + 1 offsets of the
    cells in ``B``, int64 little-endian, the first 0 and the last ``len(B)``. So ``["ab", "c"]``
    and ``["a", "bc"]`` differ in ``O``, and ``""`` and a missing cell in ``M``.
  - ``b"category\\n" || canonical({"categories": c, "dtype": str(categories.dtype), "ordered": o})
    || b"\\n" || sha256(S_categories) || C`` for a categorical: ``S_categories`` is the stream of
    its categories as a column (by these same rules), ``C`` the n codes into them, -1 where missing,
    little-endian signed integers of 1 byte if c < 127, 2 if c < 32767, 4 if c < 2**31 - 1, else 8.
    The categories and their order are part of the dtype, so they count, used or not.
  - ``b"objects\\n" || E_1 || ... || E_n`` for any other column (an object column of mixed types,
    periods, intervals, ...): the exact but slow route, one self-delimiting ``E`` per cell, by type:
    missing: ``b"N"``; ``bool``/``numpy.bool_``: ``b"?"`` and one byte 0/1; ``int``/numpy integer:
    ``b"i" || u64(len) || decimal ASCII``; ``float``/numpy floating: ``b"f"`` and the IEEE float64,
    8 bytes little-endian, -0.0 as 0.0; ``str``: ``b"s" || u64(len) || UTF-8 (surrogatepass)``;
    ``bytes``: ``b"b" || u64(len) || bytes``; anything else: ``b"o" || u64(len) ||`` the UTF-8
    (surrogatepass) of ``f"{type(v).__name__}:{v}"`` (deterministic as far as the value's ``str``
    is). So ``1``, ``1.0``, ``True`` and ``"1"`` differ, while a numpy integer equals the same int.

  How it is computed (`fingerprint_fp2`) does not change the result: numeric columns are hashed
  from their buffers (strided columns of one 2-D block in lockstep chunks of rows); strings go
  through pyarrow, a column of few distinct string objects (as pandas' readers leave them) only
  through those objects; large frames hash their columns on a small thread pool (``hashlib`` and
  numpy release the GIL).

Scheme ``fp1`` (older ledgers; ``fingerprint_frame(frame, scheme="fp1")``)
--------------------------------------------------------------------------
* **frame**: sha256 over ``canonical({"rows": n, "schema": [...]})`` and then, per column in name
  order, the little-endian uint64 cell hashes of ``pandas.util.hash_pandas_object(column,
  index=False)``. All missing values in a column hash alike; the index is not content. Its string
  cells get pandas' 64-bit keyed hash with a public key, so it resists accidents, not adversaries.
* **model**, **file**, **value**: as in ``fp2``.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import infer_dtype

from govflow.canonical import canonical
from govflow.governance.ledger.fingerprint_fp2 import fp2_hexdigest
from govflow.governance.ledger.fingerprint_schemes import SCHEME, SCHEMES

__all__ = ["SCHEME", "SCHEMES", "fingerprint", "fingerprint_bytes", "fingerprint_file", "fingerprint_frame",
           "fingerprint_model", "fingerprint_value", "frame_schema", "is_model", "model_bytes", "schema_hash",
           "scheme_of"]

def _check_scheme(scheme: str) -> str:
    if scheme not in SCHEMES:
        raise ValueError(f"unknown fingerprint scheme {scheme!r} (known: {', '.join(SCHEMES)})")
    return scheme


def scheme_of(fingerprint: str) -> str:
    """The scheme of a stored fingerprint (``fp1`` for ``fp1:3fa2...``); ValueError if unknown."""
    scheme, sep, _ = fingerprint.partition(":")
    if not sep:
        raise ValueError(f"not a fingerprint (no scheme prefix): {fingerprint!r}")
    return _check_scheme(scheme)


def _tag(digest: str, scheme: str = SCHEME) -> str:
    return f"{_check_scheme(scheme)}:{digest}"


def frame_schema(frame: pd.DataFrame) -> list[list[str]]:
    """The frame's schema as ``[[name, dtype], ...]`` in name order."""
    return [[str(name), str(frame[name].dtype)] for name in sorted(frame.columns, key=str)]


def schema_hash(frame: pd.DataFrame) -> str:
    return hashlib.sha256(canonical(frame_schema(frame))).hexdigest()


def fingerprint_frame(frame: pd.DataFrame, scheme: str = SCHEME) -> str:
    """Fingerprint of every cell and the schema of a DataFrame (see the module docstring)."""
    if frame.columns.duplicated().any():
        raise ValueError("cannot fingerprint a frame with duplicate column names")
    if _check_scheme(scheme) == "fp1":
        return _fp1_frame(frame)
    return _fp2_frame(frame)


def _fp2_frame(frame: pd.DataFrame) -> str:
    return _tag(fp2_hexdigest(frame, frame_schema(frame)), "fp2")


# --- fp1 (kept so that fingerprints in older ledgers can be recomputed) ----------------------------

MISSING = np.iinfo(np.uint64).max  # the cell hash pandas gives a missing value (categorize=True)


def _fp1_frame(frame: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    digest.update(canonical({"rows": len(frame), "schema": frame_schema(frame)}))
    for name in sorted(frame.columns, key=str):
        digest.update(np.ascontiguousarray(_column_hashes(frame[name])).data)  # the buffer, no copy
    return _tag(digest.hexdigest(), "fp1")


def _column_hashes(column: pd.Series) -> np.ndarray:
    """fp1: the uint64 cell hashes of one column: ``hash_pandas_object(column, index=False)``.

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


# --- models, files, values -------------------------------------------------------------------------


def fingerprint_bytes(data: bytes, scheme: str = SCHEME) -> str:
    return _tag(hashlib.sha256(data).hexdigest(), scheme)


def fingerprint_file(path: str | Path, scheme: str = SCHEME) -> str:
    _check_scheme(scheme)
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return _tag(digest.hexdigest(), scheme)


def model_bytes(model: Any) -> bytes:
    return pickle.dumps(model, protocol=5)


def fingerprint_model(model: Any, scheme: str = SCHEME) -> str:
    return fingerprint_bytes(model_bytes(model), scheme)


def fingerprint_value(value: Any, scheme: str = SCHEME) -> str:
    try:
        data = canonical(value)
    except (TypeError, ValueError):
        data = repr(value).encode("utf-8")
    return fingerprint_bytes(data, scheme)


def is_model(value: Any) -> bool:
    """A fitted scikit-learn style estimator (has ``fit`` and ``predict``)."""
    return hasattr(value, "fit") and (hasattr(value, "predict") or hasattr(value, "transform"))


def fingerprint(value: Any, scheme: str = SCHEME) -> tuple[str, str]:
    """``(kind, fingerprint)`` for any value a step takes or returns."""
    if isinstance(value, pd.DataFrame):
        return "dataset", fingerprint_frame(value, scheme)
    if isinstance(value, pd.Series):
        return "dataset", fingerprint_frame(value.to_frame(name=value.name or "value"), scheme)
    if isinstance(value, Path):
        if value.is_file():
            return "file", fingerprint_file(value, scheme)
        return "value", fingerprint_value(str(value), scheme)
    if is_model(value):
        return "model", fingerprint_model(value, scheme)
    return "value", fingerprint_value(value, scheme)
