"""JSON-safe values and their canonical hash, for everything `checks/` hands upwards.

Check results, policies and data contracts are recorded in the ledger and hashed, so their values
must be plain JSON: no numpy scalars, no NaN. `json_safe` converts; `content_hash` hashes the
canonical form that the ledger uses too (keys sorted, separators ``(",", ":")``, no ASCII escaping,
UTF-8, NaN refused), so a hash computed here can be re-computed by an auditor with the standard
library alone.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

JSONValue = None | bool | int | float | str | list["JSONValue"] | dict[str, "JSONValue"]


def json_safe(value: Any) -> JSONValue:
    """Return `value` as plain JSON types.

    numpy scalars and arrays become Python numbers and lists, tuples and sets become lists,
    enums their value, dates ISO strings, and NaN or infinite floats ``None`` (JSON has no NaN, and
    a metric that cannot be computed is "no value", not a number). Mapping keys become strings.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, enum.Enum):
        return json_safe(value.value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, Mapping):
        return {str(json_safe(k)): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset | np.ndarray):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [json_safe(v) for v in items]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if hasattr(value, "item") and callable(value.item):  # pandas scalars such as Timestamp
        return json_safe(value.item())
    raise TypeError(f"{type(value).__name__} is not JSON-safe: convert it before recording")


def canonical_json(value: Any) -> str:
    """The canonical JSON text of a JSON-safe value (sorted keys, no spaces, UTF-8 characters)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def content_hash(value: Any) -> str:
    """sha256 (hex) over the UTF-8 bytes of `canonical_json(value)`."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()
