"""The canonical byte encoding that every hash in govflow is computed over: the one place it is defined.

This is the contract an auditor's independent verifier re-implements (the bundle's
`verify_bundle.py` does it with the standard library alone), so it is spelt out here exactly:

* A value is encoded as JSON with keys sorted, separators ``(",", ":")``, no ASCII escaping
  (``ensure_ascii=False``), then UTF-8. Floats use Python's shortest round-trip repr; NaN and
  infinities are refused.
* A timestamp is a string in RFC 3339, UTC, with microseconds: ``2026-11-29T20:30:40.123456Z``.
* A ledger row's hash is ``sha256(canonical({"table": NAME, "row": {column: value, ...}}))`` over
  every column of the row, including ``audit_seq``, the sequence number of the entry that wrote it.
* An audit entry's ``payload`` is ``{"tables": {NAME: {"rows": N, "hash": H}}}`` where ``H`` is the
  sha256 of the concatenated hex row hashes of that table, sorted as strings; its ``payload_hash``
  is ``sha256(canonical(payload))``.
* ``entry_hash = sha256(canonical({"seq", "recorded_at", "event_type", "subject", "payload_hash",
  "prev_hash"}))``; the first entry's ``prev_hash`` is 64 zeros (``GENESIS``).

Check results, policies and data contracts are hashed too, so their values must be plain JSON:
`json_safe` converts numpy and pandas values (NaN becomes ``None``: a metric that cannot be computed
is "no value", not a number). Fast paths that spell the encoding out by hand (`entry_hash` here, the
ledger's row hash) are held equal to `hash_value` by tests; the bundle's stdlib-only verifier is a
deliberate copy, held equal by a test too.

>>> canonical({"b": 1, "a": [1.5, None, "x"]})
b'{"a":[1.5,null,"x"],"b":1}'
>>> import numpy as np
>>> json_safe({"n": np.int64(3), "nan": float("nan"), "s": {2, 1}})
{'n': 3, 'nan': None, 's': [1, 2]}
>>> format_ts(datetime(2026, 11, 29, 20, 30, 40, 123456, tzinfo=UTC))
'2026-11-29T20:30:40.123456Z'
>>> link = {"seq": 1, "recorded_at": "2026-11-29T20:30:40.123456Z", "event_type": "run", "subject": "r1",
...         "payload_hash": hash_value({"tables": {}}), "prev_hash": GENESIS}
>>> entry_hash(**link) == hash_value(link)
True
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
import sys
from collections.abc import Mapping
from datetime import UTC, date, datetime
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

GENESIS = "0" * 64
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
    # numpy is looked up, not imported: a value can only be numpy's if numpy was imported before,
    # and commands that never touch numpy (a config error, --help) stay fast.
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, int) or (np is not None and isinstance(value, np.integer)):
        return int(value)
    if isinstance(value, float) or (np is not None and isinstance(value, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, Mapping):
        return {str(json_safe(k)): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset) or (np is not None and isinstance(value, np.ndarray)):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [json_safe(v) for v in items]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "item") and callable(value.item):  # pandas scalars such as Timestamp
        return json_safe(value.item())
    raise TypeError(f"{type(value).__name__} is not JSON-safe: convert it before recording")


def canonical(value: Any) -> bytes:
    """Encode a JSON-safe value as canonical UTF-8 bytes."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hash_value(value: Any) -> str:
    """sha256 (hex) of a value's canonical encoding."""
    return sha256_hex(canonical(value))


def format_ts(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds. A naive datetime is taken to be UTC already."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    if moment.year >= 1000:  # the same text as the strftime below, at less than half the cost
        return moment.isoformat(timespec="microseconds") + "Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utc_now() -> datetime:
    return datetime.now(UTC)


def entry_hash(
    seq: int, recorded_at: str, event_type: str, subject: str, payload_hash: str, prev_hash: str
) -> str:
    """The chain link. Built by hand for speed; equal to ``hash_value`` of the same dict.

    Keys in sorted order: event_type, payload_hash, prev_hash, recorded_at, seq, subject.
    """
    e = encode_basestring
    text = (
        f'{{"event_type":{e(event_type)},"payload_hash":{e(payload_hash)},"prev_hash":{e(prev_hash)},'
        f'"recorded_at":{e(recorded_at)},"seq":{int(seq)},"subject":{e(subject)}}}'
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def payload_of(row_hashes_by_table: dict[str, list[str]]) -> dict[str, Any]:
    """The audit entry payload covering the rows one transaction wrote."""
    return {
        "tables": {
            table: {"rows": len(hashes), "hash": sha256_hex("".join(sorted(hashes)).encode())}
            for table, hashes in sorted(row_hashes_by_table.items())
            if hashes
        }
    }
