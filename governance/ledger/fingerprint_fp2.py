"""Scheme ``fp2``: a data frame's byte streams, one per column, and their digests.

The encoding is specified in the docstring of `govflow.governance.ledger.fingerprint` (the public
entry point); this module is how it is computed fast: numeric columns hashed from their buffers,
strings through pyarrow or through their few distinct objects, large frames on a small thread pool.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.types import infer_dtype

from govflow.canonical import canonical

Chunks = list[Any]  # bytes-like pieces of a column's stream (bytes, memoryviews, contiguous arrays)

PARALLEL_CELLS = 1 << 20  # below this many cells a frame is hashed on the calling thread
_U64 = struct.Struct("<Q")
_NO_MISSING = _U64.pack(0)


def fp2_hexdigest(frame: pd.DataFrame, schema: list[list[str]]) -> str:
    """The fp2 digest of a frame, given its `frame_schema` (see `govflow.governance.ledger.fingerprint`)."""
    names = sorted(frame.columns, key=str)
    if len({str(name) for name in names}) != len(names):
        raise ValueError("cannot fingerprint a frame with duplicate column names (as strings)")
    digest = hashlib.sha256(canonical({"rows": len(frame), "schema": schema, "scheme": "fp2"}))
    for column_digest in _column_digests([frame[name] for name in names]):
        digest.update(column_digest)
    return digest.hexdigest()


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
