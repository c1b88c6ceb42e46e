"""One logged prediction (`PredictionRecord`), made once per prediction on the serving hot path.

Its canonical JSON texts, its payload's random salt and its payload hash
(``sha256(canonical({"features", "salt", "sensitive", "subject_id", "subject_id_sent"}))``, what
`govflow.governance.ledger.verify` recomputes) are computed when it is made. The subject ids are in
the hash because the payload row is not chained: its hash, kept on the chained prediction, is all
that binds the row, and an id left out could be re-attributed unseen (see `payload_hash_v2`).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Mapping
from datetime import datetime
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any, NamedTuple

from govflow import canonical as canon
from govflow.governance.ledger.ids import new_id
from govflow.governance.trail.input_schema import ValidRecord
from govflow.governance.trail.redaction import NO_REDACTION, Redaction


class _Salts:
    """Random salts (32 hex digits: 16 bytes from the OS's CSPRNG), drawn 4 KiB at a time.

    As unpredictable as a `secrets.token_hex(16)` each, but one system call per 256 salts instead of
    one per prediction (each call also gave up the GIL to the server's other threads). A forked child
    throws away the parent's unused bytes, so no two processes ever share a salt.
    """

    CHUNK = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hex = ""
        self._at = 0
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._hex, self._at = "", 0

    def __call__(self) -> str:
        with self._lock:
            at = self._at
            if at >= len(self._hex):
                self._hex, at = os.urandom(self.CHUNK).hex(), 0
            self._at = at + 32
            return self._hex[at:at + 32]


new_salt = _Salts()


class _RecordFields(NamedTuple):
    request_id: str
    system: str
    model_version_id: str
    output: Any  # any JSON value
    features: Mapping[str, Any]
    sensitive: Mapping[str, Any]
    latency_ms: float
    served_at: datetime
    caller: str
    subject_id: str | None
    id: str
    output_json: str
    features_json: str
    sensitive_json: str
    salt: str
    payload_hash: str
    subject_id_sent: str | None  # the subject_id sent beside an id column value (which subject_id holds)


class PredictionRecord(_RecordFields):
    """One prediction to log (immutable). ``features`` and ``sensitive`` as stored (already redacted).

    Its canonical JSON texts, its payload's random salt and its payload hash are computed when it is
    made, in the request that made it: a value that cannot be encoded fails that request alone, never
    the group commit it would have joined.

    A named tuple rather than a frozen dataclass: one is made per prediction on the serving hot path,
    and a frozen dataclass's field-by-field set-up cost as much as encoding the record.
    """

    __slots__ = ()

    def __reduce__(self) -> tuple[Any, ...]:  # pickled as its values (the constructor computes them)
        return _record_from_values, (tuple(self),)

    def for_writing(self) -> PredictionRecord:
        """The same record without ``output``, ``features`` and ``sensitive`` (their canonical texts
        stay): all `write_predictions` reads, the least to send to a writer in another process."""
        return tuple.__new__(PredictionRecord, (*self[:3], None, None, None, *self[6:]))  # type: ignore[type-var]

    def __new__(cls, *, request_id: str, system: str, model_version_id: str, output: Any,
                features: Mapping[str, Any], sensitive: Mapping[str, Any], latency_ms: float,
                served_at: datetime, caller: str, subject_id: str | None = None,
                id: str | None = None, subject_id_sent: str | None = None) -> PredictionRecord:
        features_json, sensitive_json = canonical_text(features), canonical_text(sensitive)
        salt = new_salt()
        text = ('{"features":' + features_json + ',"salt":"' + salt + '","sensitive":' + sensitive_json
                + ',"subject_id":' + _id_json(subject_id) + ',"subject_id_sent":' + _id_json(subject_id_sent) + "}")
        return tuple.__new__(cls, (  # type: ignore[type-var]
            request_id, system, model_version_id, output, features, sensitive, latency_ms, served_at, caller,
            subject_id, id or new_id(), canonical_text(output), features_json, sensitive_json, salt,
            hashlib.sha256(text.encode("utf-8")).hexdigest(),  # = payload_hash_v2(salt, ..., subject_id_sent)
            subject_id_sent))


def _record_from_values(values: tuple[Any, ...]) -> PredictionRecord:
    return tuple.__new__(PredictionRecord, values)  # type: ignore[type-var]


def make_record(*, request_id: str, system: str, model_version_id: str, output: Any, valid: ValidRecord,
                latency_ms: float, served_at: datetime, caller: str, redaction: Redaction = NO_REDACTION,
                id: str | None = None) -> PredictionRecord:
    """A record to log, with ``logging.redact`` fields replaced by their keyed hashes."""
    features, sensitive = valid.features, valid.sensitive
    if redaction.fields:
        features, sensitive = redaction.apply(features), redaction.apply(sensitive)
    return PredictionRecord(request_id=request_id, system=system, model_version_id=model_version_id,
                            output=output, features=features, sensitive=sensitive, latency_ms=latency_ms,
                            served_at=served_at, caller=caller, subject_id=valid.subject_id, id=id,
                            subject_id_sent=valid.subject_id_sent)


def _id_json(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)  # type: ignore[no-any-return]


def payload_hash_v2(salt: str, features_json: str, sensitive_json: str, subject_id: str | None,
                    subject_id_sent: str | None) -> str:
    """``sha256(canonical({"features", "salt", "sensitive", "subject_id", "subject_id_sent"}))``: the
    payload hash of every record made now, the one `PredictionRecord` computes.

    Equal to `govflow.governance.ledger.verify.payload_hash_v2_of` (keys in sorted order), assembled
    by hand so the canonical text of the features is encoded once.
    """
    text = ('{"features":' + features_json + ',"salt":' + encode_basestring(salt) + ',"sensitive":' + sensitive_json
            + ',"subject_id":' + _id_json(subject_id) + ',"subject_id_sent":' + _id_json(subject_id_sent) + "}")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def payload_hash(salt: str, features_json: str, sensitive_json: str) -> str:
    """The old form, ``sha256(canonical({"features", "salt", "sensitive"}))``, of payloads logged
    before the subject ids were hashed (`payload_hash_v2`); verify still accepts it for them.

    Equal to `govflow.governance.ledger.verify.payload_hash_of`.
    """
    text = '{"features":' + features_json + ',"salt":' + encode_basestring(salt) + ',"sensitive":' + sensitive_json + "}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - orjson comes with the pinned stack; the standard library works too
    _orjson = None  # type: ignore[assignment]


_SIMPLE = frozenset({str, int, bool, type(None)})


def _plain(value: Any, depth: int = 0) -> bool:
    """Values orjson writes exactly as the standard library does: strings, ints, booleans, null, and
    floats of 0 or magnitude in [1e-4, 1e16) (outside it the exponent is spelt differently, e.g.
    ``1.5e-05`` vs ``0.000015``); lists and string-keyed objects of those, not too deep."""
    kind = type(value)
    if kind in _SIMPLE:
        return True
    if kind is float:
        return value == 0 or 1e-4 <= abs(value) < 1e16  # NaN and infinities fail both
    if depth > 8:
        return False
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or (type(item) not in _SIMPLE and not _plain(item, depth + 1)):
                return False
        return True
    if kind is list:
        for item in value:
            if type(item) not in _SIMPLE and not _plain(item, depth + 1):
                return False
        return True
    return False


def canonical_text(value: Any) -> str:
    """`govflow.canonical.canonical` as text. Through orjson where its bytes are the same (see
    `_plain`; a test holds it to the standard library's): ~30x faster per record."""
    if _orjson is not None and _plain(value):
        try:
            return _orjson.dumps(value, option=_orjson.OPT_SORT_KEYS).decode("utf-8")  # type: ignore[no-any-return]
        except (TypeError, _orjson.JSONEncodeError):  # e.g. an int beyond 64 bits, a lone surrogate
            pass
    return canon.canonical(value).decode("utf-8")
