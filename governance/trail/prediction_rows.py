"""The prediction log's chained rows on the batch path: hashed and encoded once per batch.

`write_predictions` hands the records it keeps to its `PredictionWriter`, which inserts them by
`Writer.insert_own` instead of buffering a dict per row in the ledger writer: a `PredictionRecord`'s
values have their stored types already, so the ledger's per-column normalising and its generic
canonical encoding (`govflow.governance.ledger.rows`) are spelt out here for this one table, and
what rows share (a timestamp, formatted once per batch) is encoded once. The hashes are exactly
`rows.row_hash`'s (a test holds them to it). A record with a value of another type than its field's
raises `Unusual`, and the batch goes the generic way (`Writer.add`'s rows) instead.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from datetime import datetime
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any

from govflow import canonical as canon
from govflow.governance.ledger.rows import COLUMN_KINDS
from govflow.governance.trail.records import PredictionRecord

# The insert's column order (the COPY text and the INSERT follow it).
COLUMNS = ("id", "request_id", "system", "model_version_id", "output_json", "latency_ms", "served_at", "caller",
           "payload_hash", "audit_seq")
# `_row_hash` writes the columns in canonical (sorted) order by hand: the table must still have these.
assert sorted(COLUMNS) == sorted(name for name, _ in COLUMN_KINDS["predictions"]), "predictions changed: update prediction_rows"
NAIVE = "ledger timestamps must be timezone-aware"  # `UTCDateTime`'s refusal, the same words


class Unusual(Exception):
    """A record value not of its field's type: the batch goes the generic way."""


def stamps(records: Sequence[PredictionRecord], to_db: Callable[[datetime], Any]) -> dict[datetime, tuple[str, Any]]:
    """Per distinct ``served_at``: its canonical text and its value for the database (``to_db``).

    Records made in one burst share few timestamps, so each is formatted once. Equal datetimes in
    other zones are the same instant, which both forms store in UTC alike.
    """
    found: dict[datetime, tuple[str, Any]] = {}
    for r in records:
        at = r.served_at
        if at not in found:
            if type(at) is not datetime:
                raise Unusual(at)
            if at.tzinfo is None:
                raise ValueError(NAIVE)
            found[at] = (canon.format_ts(at), to_db(at))
    return found


def _latency(value: Any) -> tuple[float, str]:
    latency = float(value)
    # NaN and infinities: refused by the canonical encoding, as `rows.row_hash` refuses them.
    return latency, float.__repr__(latency) if math.isfinite(latency) else canon.canonical(latency).decode()


def row_hashes(records: Sequence[PredictionRecord], seq: int, at: dict[datetime, tuple[str, Any]]) -> list[str]:
    """`rows.row_hash("predictions", row)` of each record's row, stamped ``seq``."""
    e, sha = encode_basestring, hashlib.sha256
    head = '{"row":{"audit_seq":' + int.__repr__(seq) + ',"caller":'
    try:
        return [sha((
            f'{head}{e(r.caller)},"id":{e(r.id)},"latency_ms":{_latency(r.latency_ms)[1]},"model_version_id":'
            f'{e(r.model_version_id)},"output_json":{e(r.output_json)},"payload_hash":{e(r.payload_hash)},'
            f'"request_id":{e(r.request_id)},"served_at":"{at[r.served_at][0]}","system":{e(r.system)}}},'
            '"table":"predictions"}').encode()).hexdigest() for r in records]
    except TypeError as e:  # encode_basestring's refusal of a value that is not a string
        raise Unusual(str(e)) from e


def db_rows(records: Sequence[PredictionRecord], seq: int, at: dict[datetime, tuple[str, Any]]) -> list[tuple[Any, ...]]:
    """Each record's row as `COLUMNS` values for the driver (after `row_hashes` accepted them)."""
    return [(r.id, r.request_id, r.system, r.model_version_id, r.output_json, _latency(r.latency_ms)[0],
             at[r.served_at][1], r.caller, r.payload_hash, seq) for r in records]


def copy_field(text: str) -> str:
    """A string in PostgreSQL's COPY text format (backslash, tab, newline and carriage return escaped)."""
    if "\\" in text or not text.isprintable():  # isprintable: False for any control character
        return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def copy_json(text: str) -> str:
    """A canonical JSON text in COPY text format: JSON escapes every control character itself, so
    only its backslashes need doubling."""
    return text.replace("\\", "\\\\") if "\\" in text else text


def copy_optional(text: str | None) -> str:
    if text is None:
        return "\\N"
    if type(text) is not str:
        raise Unusual(text)
    return copy_field(text)


def copy_text(records: Sequence[PredictionRecord], seq: int, at: dict[datetime, tuple[str, Any]]) -> bytes:
    """The rows as one COPY text stream (`COLUMNS` order), encoded once (after `row_hashes` accepted
    them); ``at``'s database values are timezone-aware datetimes (PostgreSQL's)."""
    f, j, tail = copy_field, copy_json, "\t" + int.__repr__(seq) + "\n"
    served = {moment: value.isoformat() for moment, (_, value) in at.items()}
    return "".join([
        f"{f(r.id)}\t{f(r.request_id)}\t{f(r.system)}\t{f(r.model_version_id)}\t{j(r.output_json)}\t"
        f"{_latency(r.latency_ms)[1]}\t{served[r.served_at]}\t{f(r.caller)}\t{f(r.payload_hash)}{tail}"
        for r in records]).encode()
