"""The canonical byte encoding that every hash in govflow is computed over.

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
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

GENESIS = "0" * 64


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
