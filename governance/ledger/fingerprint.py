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

  How it is computed does not change the result: numeric columns are hashed from their buffers
  (strided columns of one 2-D block in lockstep chunks of rows); strings go through pyarrow, a column
  of few distinct string objects (as pandas' readers leave them) only through those objects; large
  frames hash their columns on a small thread pool (``hashlib`` and numpy release the GIL).

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
import os
import pickle
import struct
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.types import infer_dtype

from govflow.canonical import canonical
from govflow.governance.ledger.fingerprint_schemes import SCHEME, SCHEMES

__all__ = ["SCHEME", "SCHEMES", "fingerprint", "fingerprint_bytes", "fingerprint_file", "fingerprint_frame",
           "fingerprint_model", "fingerprint_value", "frame_schema", "is_model", "model_bytes", "schema_hash",
           "scheme_of"]

Chunks = list[Any]  # bytes-like pieces of a column's stream (bytes, memoryviews, contiguous arrays)


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


# --- fp2 -------------------------------------------------------------------------------------------

PARALLEL_CELLS = 1 << 20  # below this many cells a frame is hashed on the calling thread
_U64 = struct.Struct("<Q")
_NO_MISSING = _U64.pack(0)


def _fp2_frame(frame: pd.DataFrame) -> str:
    names = sorted(frame.columns, key=str)
    if len({str(name) for name in names}) != len(names):
        raise ValueError("cannot fingerprint a frame with duplicate column names (as strings)")
    digest = hashlib.sha256(canonical({"rows": len(frame), "schema": frame_schema(frame), "scheme": "fp2"}))
    for column_digest in _column_digests([frame[name] for name in names]):
        digest.update(column_digest)
    return _tag(digest.hexdigest(), "fp2")


def _workers() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(4, cpus))


def _column_digests(columns: Sequence[pd.Series]) -> list[bytes]:
    """sha256 of each column's stream, in the given order.

    Large frames use a thread pool: numeric columns are encoded and hashed entirely on it (numpy and
    hashlib release the GIL); columns of Python objects are encoded on the calling thread, which
    holds the GIL for that anyway, and only their hashing goes to the pool. Strided numeric columns
    (one 2-D block) are read in lockstep (`_strided_digests`), split among the workers.
    """
    workers = _workers()
    parallel = workers > 1 and len(columns) > 1 and len(columns) * len(columns[0]) >= PARALLEL_CELLS
    strided = {i: values for i, column in enumerate(columns) if (values := _strided(column)) is not None}
    if len(strided) < 2:
        strided = {}
    if not parallel:
        done = dict(zip(strided, _strided_digests(list(strided.values())))) if strided else {}
        return [done[i] if i in done else _digest(_encode(column)) for i, column in enumerate(columns)]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fingerprint") as pool:
        results: dict[int, Callable[[], bytes]] = {}
        # split by position in memory: each worker then reads its own part of the block's rows
        order = sorted(strided, key=lambda i: strided[i].__array_interface__["data"][0])
        size = max(1, -(-len(order) // workers))
        for group in (order[k:k + size] for k in range(0, len(order), size)):
            future = pool.submit(_strided_digests, [strided[i] for i in group])
            for pos, i in enumerate(group):
                results[i] = partial(_pick, future, pos)
        for i, column in enumerate(columns):
            if i not in results and _gil_free(column):
                results[i] = pool.submit(_digest_column, column).result
        for i, column in enumerate(columns):
            if i not in results:
                results[i] = pool.submit(_digest, _encode(column)).result
        return [results[i]() for i in range(len(columns))]


def _pick(future: Future[list[bytes]], position: int) -> bytes:
    return future.result()[position]


def _strided(column: pd.Series) -> np.ndarray | None:
    """The values of a numeric column that is a strided view (of a 2-D block), else None."""
    dtype = column.dtype
    if isinstance(dtype, np.dtype) and (dtype.kind in "biumM" or (dtype.kind == "f" and dtype.itemsize in (2, 4, 8))):
        values = column.to_numpy()
        if values.ndim == 1 and not values.flags.c_contiguous:
            return values
    return None


def _gil_free(column: pd.Series) -> bool:
    dtype = column.dtype
    return (isinstance(dtype, np.dtype) and dtype.kind in "biufmM") or isinstance(dtype, pd.DatetimeTZDtype)


def _digest(chunks: Chunks) -> bytes:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.digest()


def _digest_column(column: pd.Series) -> bytes:
    return _digest(_encode(column))


def _missing(rows: np.ndarray | None) -> Chunks:
    """``M``: the count and the ascending row numbers of the missing cells (at a stream's end)."""
    if rows is None or len(rows) == 0:
        return [_NO_MISSING]
    return [_U64.pack(len(rows)), np.ascontiguousarray(rows, dtype="<u8")]


def _encode(column: pd.Series) -> Chunks:
    """The byte stream ``S`` of one column, as chunks."""
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _category(column)
    if isinstance(dtype, pd.DatetimeTZDtype):
        return _fixed(column.dt.tz_convert(None).to_numpy())
    if isinstance(dtype, np.dtype):
        if dtype.kind in "biumM" or (dtype.kind == "f" and dtype.itemsize in (2, 4, 8)):
            return _fixed(column.to_numpy())
        if dtype.kind == "O":
            return _objects(np.ascontiguousarray(column.to_numpy(), dtype=object))
    elif isinstance(dtype, pd.StringDtype) or _arrow_string(dtype):
        try:
            array = pa.array(column.array)
        except (pa.ArrowException, UnicodeEncodeError):
            pass
        else:
            if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
                return _utf8_arrow(array if isinstance(array, pa.ChunkedArray) else [array])
    elif getattr(dtype, "numpy_dtype", None) is not None and dtype.kind in "biuf":  # nullable Int64, boolean...
        numpy_dtype = np.dtype(dtype.numpy_dtype)
        if numpy_dtype.kind != "f" or numpy_dtype.itemsize in (2, 4, 8):
            values = column.to_numpy(dtype=numpy_dtype, na_value=numpy_dtype.type(0))
            return _fixed(values, column.isna().to_numpy(dtype=bool))
    return _objects(np.ascontiguousarray(column.to_numpy(dtype=object), dtype=object))


def _arrow_string(dtype: Any) -> bool:
    arrow = getattr(dtype, "pyarrow_dtype", None)
    return arrow is not None and (pa.types.is_string(arrow) or pa.types.is_large_string(arrow))


_SIGN_ONLY = {2: np.int16(-(1 << 15)), 4: np.int32(-(1 << 31)), 8: np.int64(-(1 << 63))}


def _fixed(values: np.ndarray, missing: np.ndarray | None = None) -> Chunks:
    """``b"fixed\\n" || V || M``."""
    data, rows = _canonical(np.ascontiguousarray(values), missing)
    return [b"fixed\n", data, *_missing(rows)]


def _canonical(values: np.ndarray, missing: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """``V`` (as uint8) and the missing row numbers of a contiguous 1-D array: little-endian values,
    missing cells zeroed, -0.0 as 0.0."""
    kind = values.dtype.kind
    if kind == "b":
        values = values.view(np.uint8)
        if len(values) and values.max() > 1:  # a bool array made by a view of other bytes
            values = (values != 0).view(np.uint8)
    elif kind == "f":
        nan = np.isnan(values)
        missing = nan if missing is None else (missing | nan)
        bits = values.view(f"i{values.dtype.itemsize}")
        negative_zero = bits == _SIGN_ONLY[values.dtype.itemsize]  # integer compare: immune to DAZ/FTZ
        if negative_zero.any():
            bits = np.where(negative_zero, bits.dtype.type(0), bits)
        values = bits
    elif kind in "mM":
        values = values.view(np.int64)
        nat = values == np.iinfo(np.int64).min
        missing = nat if missing is None else (missing | nat)
    rows = None
    if missing is not None and missing.any():
        rows = np.flatnonzero(missing)
        values = values.copy()
        values[rows] = 0
    values = np.ascontiguousarray(values.astype(values.dtype.newbyteorder("<"), copy=False))
    return values.view(np.uint8), rows


STRIDED_CHUNK_ROWS = 1 << 16


def _strided_digests(arrays: Sequence[np.ndarray]) -> list[bytes]:
    """``sha256(b"fixed\\n" || V || M)`` of several non-contiguous numeric columns, in lockstep.

    A frame built from a 2-D array keeps it as one block whose columns are strided views: copying
    one column at a time reads the whole block each time. Here each chunk of rows is read once for
    all the columns, while it is in cache.
    """
    digests = [hashlib.sha256(b"fixed\n") for _ in arrays]
    missing: list[list[np.ndarray]] = [[] for _ in arrays]
    rows = len(arrays[0]) if arrays else 0
    for start in range(0, rows, STRIDED_CHUNK_ROWS):
        for digest, values, found in zip(digests, arrays, missing):
            data, where = _canonical(np.ascontiguousarray(values[start:start + STRIDED_CHUNK_ROWS]))
            digest.update(data.data)
            if where is not None:
                found.append(where + start)
    for digest, found in zip(digests, missing):
        for chunk in _missing(np.concatenate(found) if found else None):
            digest.update(chunk)
    return [digest.digest() for digest in digests]


def _category(column: pd.Series) -> Chunks:
    categories = column.cat.categories
    count = len(categories)
    header = canonical({"categories": count, "dtype": str(categories.dtype), "ordered": bool(column.cat.ordered)})
    width = 1 if count < 127 else 2 if count < 32767 else 4 if count < 2**31 - 1 else 8
    codes = np.ascontiguousarray(column.cat.codes.to_numpy().astype(f"<i{width}", copy=False))
    stream = _digest(_encode(pd.Series(categories, copy=False)))
    return [b"category\n", header, b"\n", stream, codes.view(np.uint8)]


# Object columns: all strings -> utf8 (fast through pyarrow), otherwise the exact per-cell route.

DICTIONARY_MIN_ROWS = 20_000  # from this size a column of few distinct string objects is encoded through them
_SAMPLE = 10_000


def _objects(values: np.ndarray) -> Chunks:
    objects, codes = values, None
    if len(values) >= DICTIONARY_MIN_ROWS:
        objects, codes = _distinct_objects(values)
    if infer_dtype(objects, skipna=True) in ("string", "empty"):
        try:  # every present cell a str, missing ones None/NaN/pd.NA: pyarrow builds offsets and bytes
            if codes is None:
                return _utf8_arrow(_to_arrow_strings(objects))
            return _utf8_arrow([pc.take(pa.array(objects, type=pa.large_string(), from_pandas=True), pa.array(codes))])
        except (pa.ArrowException, UnicodeEncodeError):
            pass  # a missing value pyarrow does not take, a lone surrogate: the exact route below
    missing = pd.isna(values)
    present = values[~missing]
    if all(isinstance(v, str) for v in present):
        return _utf8_exact(present, missing)
    return [b"objects\n", b"".join(b"N" if gone else _cell(v) for v, gone in zip(values, missing))]


def _distinct_objects(values: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """``(objects, codes)`` with ``objects[codes]`` the same objects as ``values``, when few
    distinct objects are reused; else ``(values, None)``.

    pandas' CSV reader, ``map`` over a few values and the like reuse one object per distinct string:
    the array of object pointers is then factorized (decided on a sample), so that only the distinct
    objects are type-checked and converted. Equal strings held by different objects simply stay
    apart here; the column's encoding is the same either way.
    """
    pointers = np.frombuffer(values.data, dtype=np.uintp)
    if len(pd.unique(pointers[:_SAMPLE])) > _SAMPLE // 2:
        return values, None
    codes, distinct = pd.factorize(pointers)
    # codes are numbered by first appearance: the running maximum steps up at each first one
    running = np.maximum.accumulate(codes)
    new = np.empty(len(codes), dtype=bool)
    new[:1] = True
    np.greater(running[1:], running[:-1], out=new[1:])
    first = np.flatnonzero(new)
    if len(first) != len(distinct):  # cannot happen; stay on the plain route if it did
        return values, None
    return values[first], codes


CONVERT_ROWS = 1 << 16


def _to_arrow_strings(objects: np.ndarray) -> list[pa.Array]:
    """Strings to pyarrow in slices: each call holds the GIL, and the pool's threads need it between
    their (GIL-free) numpy and hashlib calls."""
    return [pa.array(objects[start:start + CONVERT_ROWS], type=pa.large_string(), from_pandas=True)
            for start in range(0, len(objects), CONVERT_ROWS)]


def _utf8_arrow(arrays: pa.ChunkedArray | Sequence[pa.Array]) -> Chunks:
    """``b"utf8\\n" || O || B || M`` from consecutive pyarrow string arrays."""
    offsets: Chunks = [np.zeros(1, dtype="<i8")]
    data: Chunks = []
    missing: list[np.ndarray] = []
    rows = size = 0
    for array in arrays.chunks if isinstance(arrays, pa.ChunkedArray) else arrays:
        if not pa.types.is_large_string(array.type):
            array = array.cast(pa.large_string())
        if array.null_count:
            missing.append(np.flatnonzero(array.is_null().to_numpy(zero_copy_only=False)) + rows)
            array = pc.fill_null(array, "")  # missing cells as "": no bytes, whatever the null slots held
        n = len(array)
        if n == 0:
            continue
        _, offset_buffer, data_buffer = array.buffers()
        here = np.frombuffer(offset_buffer, dtype="<i8")[array.offset:array.offset + n + 1]
        start, end = int(here[0]), int(here[-1])
        offsets.append(here[1:] if start == size == 0 else here[1:] + (size - start))
        if end > start:
            data.append(memoryview(data_buffer)[start:end])
        rows, size = rows + n, size + end - start
    return [b"utf8\n", *offsets, *data, *_missing(np.concatenate(missing) if missing else None)]


def _utf8_exact(present: np.ndarray, missing: np.ndarray) -> Chunks:
    encoded = [v.encode("utf-8", "surrogatepass") for v in present]
    lengths = np.zeros(len(missing), dtype="<i8")
    lengths[~missing] = [len(b) for b in encoded]
    offsets = np.concatenate([np.zeros(1, dtype="<i8"), np.cumsum(lengths, dtype="<i8")])
    return [b"utf8\n", offsets, b"".join(encoded), *_missing(np.flatnonzero(missing))]


def _sized(tag: bytes, data: bytes) -> bytes:
    return tag + _U64.pack(len(data)) + data


_DOUBLE = struct.Struct("<d")
_ZERO, _NEGATIVE_ZERO = _DOUBLE.pack(0.0), _DOUBLE.pack(-0.0)


def _cell(value: Any) -> bytes:
    """One present cell of the exact route, tagged by type (a missing one is ``b"N"``)."""
    if isinstance(value, bool | np.bool_):
        return b"?\x01" if value else b"?\x00"
    if isinstance(value, int | np.integer):
        return _sized(b"i", str(int(value)).encode("ascii"))
    if isinstance(value, float | np.floating):
        data = _DOUBLE.pack(float(value))
        return b"f" + (_ZERO if data == _NEGATIVE_ZERO else data)  # by bits: no flush-to-zero mode
    if isinstance(value, str):
        return _sized(b"s", value.encode("utf-8", "surrogatepass"))
    if isinstance(value, bytes | bytearray | memoryview):
        return _sized(b"b", bytes(value))
    return _sized(b"o", f"{type(value).__name__}:{value}".encode("utf-8", "surrogatepass"))


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
