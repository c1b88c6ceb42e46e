"""The prediction log: what a served model was given, what it answered, and which version answered.

The ledger side of `govflow serve` and `govflow run score` (EU AI Act Art. 12 automatic logging):

* `InputSchema`: the production version's input schema (its feature columns in training order, their
  types, ranges and allowed values from its data contract, and its sensitive attributes), and the
  validation of one request's records against it, with an error per field at fault.
* `PredictionRecord`: one logged prediction. Its ``output`` is any JSON value (a decision and score
  for a classifier, a list of items for a recommender).
* `write_predictions`: a batch of records in ONE ledger transaction with ONE audit entry (group
  commit), refusing, in that same transaction, the records of a version no longer in production.

Personal data is kept apart (DESIGN.md): the features, the sensitive attributes and the subject id
go to ``prediction_payloads`` (not chained, purgeable), each payload with its own random salt, and
``payload_hash = sha256(canonical({"features", "salt", "sensitive"}))`` (what `govflow.governance.ledger.verify`
recomputes) stays on the chained ``predictions`` row. Fields listed in the system's
``logging.redact`` are never stored: in their place goes ``"hmac-sha256:<hex>"``, an HMAC-SHA256 of
the value's canonical JSON under the system's secret redaction key, kept in the govflow home at
``secrets/redaction-<system>.key`` (created on first use, mode 0600). Equal values give equal hashes
under one key, so monitoring can still count and group them; without the key they cannot be linked
back to a value. Keep that file with the home's backups; with several servers, share it (the home).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import secrets
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from sqlalchemy import Connection, bindparam, select

from govflow import canonical as canon
from govflow.errors import ComplianceBlocked, InputError
from govflow.governance.ledger.chained import CHAINED_SQL, chained
from govflow.governance.ledger.engine import COLUMN_KINDS, Ledger
from govflow.governance.ledger.ids import new_id
from govflow.governance.ledger.schema import PredictionPayload, StageChange

MAX_BATCH = 1000  # records per request (`govflow serve`); a larger batch is refused with 413
RESERVED = ("sensitive", "subject_id")  # keys of a record that are not features
EVENT_TYPE = "predictions.logged"
PREDICTION_COLUMNS = {"id", "request_id", "system", "model_version_id", "output_json", "latency_ms", "served_at",
                      "caller", "payload_hash", "audit_seq"}
assert PREDICTION_COLUMNS == {name for name, _ in COLUMN_KINDS["predictions"]}, "predictions changed: update write_predictions"

MISSING = "{where}{field}: required feature is missing"
UNKNOWN_FIELD = "{where}{field}: unknown field; the features of {version} are: {names}"
SENSITIVE_AMONG_FEATURES = ("{where}{field}: a sensitive attribute: send it in the record's \"sensitive\" "
                            "object, apart from the features the model sees")
UNKNOWN_SENSITIVE = "{where}sensitive.{field}: not a sensitive attribute of {version} (those are: {names})"
SENSITIVE_REQUIRED = ("{where}sensitive: required: {version} needs the sensitive attributes {names} at "
                      "prediction time")
WRONG_TYPE = "{where}{field}: expected {expected}, got {got} {value}"
NULL_VALUE = "{where}{field}: must not be null (the model was trained without missing values here)"
OUT_OF_RANGE = "{where}{field}: {value} is outside the range the model was trained on [{low}, {high}]"
NOT_ALLOWED = "{where}{field}: {value} is not one of the values the model was trained on ({allowed})"
NOT_A_RECORD = "{at}: expected a JSON object of feature values, got {got}"
NOT_AN_OBJECT = "{where}sensitive: expected a JSON object of sensitive attributes, got {got}"
BAD_SUBJECT = "{where}subject_id: expected a string of at most 200 characters"
NOT_IN_PRODUCTION = "{version} is no longer in production (now {stage}); nothing was served: retry"

_EXPECTED = {"integer": "an integer", "float": "a number", "boolean": "true or false", "string": "a string",
             "category": "a string", "datetime": "an RFC 3339 date-time string"}


class RecordError(InputError):
    """One or more records do not fit the production version's input schema."""

    def __init__(self, errors: Sequence[tuple[tuple[Any, ...], str, str]]) -> None:
        self.errors = list(errors)  # (location, message, kind)
        super().__init__(errors[0][1] + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""))


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _shown(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class FieldSpec:
    """One input field: its contract type, whether it may be null, its range and its allowed values."""

    name: str
    type: str  # integer | float | boolean | string | category | datetime
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    allowed: tuple[Any, ...] | None = None

    def problem(self, value: Any) -> tuple[str, str] | None:
        """``(kind, message template)`` when ``value`` does not fit, else None."""
        if value is None:
            return None if self.nullable else ("null", NULL_VALUE)
        kind = self.type
        ok = {
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "float": isinstance(value, int | float) and not isinstance(value, bool)
            and (not isinstance(value, float) or math.isfinite(value)),
            "boolean": isinstance(value, bool),
            "datetime": isinstance(value, str) and _is_datetime(value),
        }.get(kind, isinstance(value, str))
        if not ok:
            return "type", WRONG_TYPE
        if self.allowed is not None and value not in self.allowed:
            return "not_allowed", NOT_ALLOWED
        if kind in ("integer", "float") and (
                (self.min is not None and value < self.min) or (self.max is not None and value > self.max)):
            return "out_of_range", OUT_OF_RANGE
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "nullable": self.nullable, "min": self.min,
                "max": self.max, "allowed": list(self.allowed) if self.allowed is not None else None}


def _is_datetime(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class ValidRecord:
    """A record that fits the schema: the model's features, the sensitive attributes, the subject id."""

    features: dict[str, Any]
    sensitive: dict[str, Any]
    subject_id: str | None = None


@dataclass(frozen=True)
class InputSchema:
    """What the version in production accepts, from its data contract and its config snapshot.

    ``columns`` is the training column order with pandas dtypes (sklearn checks the order), of
    which ``features`` are what the model sees and ``sensitive`` the attributes it is assessed on.
    """

    version: str  # NAME:VERSION
    features: tuple[FieldSpec, ...]
    sensitive: tuple[FieldSpec, ...]
    needs_sensitive: bool
    columns: tuple[tuple[str, str], ...]
    id_column: str | None = None
    sensitive_as_features: bool = False

    @classmethod
    def build(cls, *, version: str, contract: Mapping[str, Any], columns: Sequence[tuple[str, str]],
              feature_names: Sequence[str], sensitive_names: Sequence[str], needs_sensitive: bool,
              id_column: str | None = None) -> InputSchema:
        """From a stored data contract (``{"columns": {name: {type, min, max, allowed, ...}}}``)."""
        specs = contract.get("columns", {})

        def spec(name: str) -> FieldSpec:
            c = specs.get(name) or {"type": "string", "max_null_rate": 1.0}
            allowed = c.get("allowed")
            return FieldSpec(name=name, type=str(c.get("type", "string")), nullable=float(c.get("max_null_rate", 0)) > 0,
                             min=c.get("min"), max=c.get("max"), allowed=tuple(allowed) if allowed is not None else None)

        return cls(version=version, features=tuple(spec(n) for n in feature_names),
                   sensitive=tuple(spec(n) for n in sensitive_names), needs_sensitive=needs_sensitive,
                   columns=tuple((str(n), str(d)) for n, d in columns), id_column=id_column,
                   sensitive_as_features=any(n in feature_names for n in sensitive_names))

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "features": [f.to_dict() for f in self.features],
                "sensitive": [f.to_dict() for f in self.sensitive], "needs_sensitive": self.needs_sensitive,
                "id_column": self.id_column, "max_batch": MAX_BATCH}

    def validate(self, records: Sequence[Any], *, batch: bool = True, limit: int = 20) -> list[ValidRecord]:
        """Every record checked; `RecordError` lists up to ``limit`` problems, each naming its field."""
        errors: list[tuple[tuple[Any, ...], str, str]] = []
        valid = []
        for i, record in enumerate(records):
            where, loc = (f"records[{i}].", ("body", "records", i)) if batch else ("", ("body",))
            found = self._check(record, where, loc, errors)
            if found is not None:
                valid.append(found)
            if len(errors) >= limit:
                break
        if errors:
            raise RecordError(errors[:limit])
        return valid

    def _check(self, record: Any, where: str, loc: tuple[Any, ...],
               errors: list[tuple[tuple[Any, ...], str, str]]) -> ValidRecord | None:
        before = len(errors)
        if not isinstance(record, dict):
            errors.append((loc, NOT_A_RECORD.format(at=where.rstrip(".") or "body", got=_json_type(record)), "not_a_record"))
            return None
        names = {f.name for f in self.features}
        sensitive_names = [f.name for f in self.sensitive]
        extra = {self.id_column} if self.id_column else set()
        for key in record:
            if key in names or key in RESERVED or key in extra:
                continue
            template = SENSITIVE_AMONG_FEATURES if key in sensitive_names else UNKNOWN_FIELD
            errors.append((loc + (key,), template.format(where=where, field=key, version=self.version,
                                                         names=", ".join(sorted(names))), "unknown_field"))
        features: dict[str, Any] = {}
        for spec in self.features:
            if spec.name not in record:
                if spec.name in sensitive_names and spec.name in (record.get("sensitive") or {}):
                    features[spec.name] = record["sensitive"][spec.name]  # sensitive_as_features
                    continue
                errors.append((loc + (spec.name,), MISSING.format(where=where, field=spec.name), "missing"))
                continue
            self._value(spec, record[spec.name], where, loc, errors, features)
        sensitive: dict[str, Any] = {}
        given = record.get("sensitive", {})
        if given is None:
            given = {}
        if not isinstance(given, dict):
            errors.append((loc + ("sensitive",), NOT_AN_OBJECT.format(where=where, got=_json_type(given)), "not_an_object"))
            given = {}
        for key in given:
            if key not in sensitive_names:
                errors.append((loc + ("sensitive", key), UNKNOWN_SENSITIVE.format(
                    where=where, field=key, version=self.version, names=", ".join(sensitive_names) or "none"), "unknown_field"))
        for spec in self.sensitive:
            if spec.name in given:
                self._value(spec, given[spec.name], f"{where}sensitive.", loc + ("sensitive",), errors, sensitive)
            elif spec.name in features:
                sensitive[spec.name] = features[spec.name]
        missing = [f.name for f in self.sensitive if f.name not in sensitive]
        if self.needs_sensitive and missing:
            errors.append((loc + ("sensitive",), SENSITIVE_REQUIRED.format(
                where=where, version=self.version, names=", ".join(missing)), "missing"))
        subject = record.get("subject_id")
        if self.id_column and self.id_column in record:
            subject = record[self.id_column]
        if subject is not None and not (isinstance(subject, str | int) and not isinstance(subject, bool)
                                        and len(str(subject)) <= 200):
            errors.append((loc + ("subject_id",), BAD_SUBJECT.format(where=where), "type"))
        if len(errors) > before:
            return None
        return ValidRecord(features, sensitive, None if subject is None else str(subject))

    @staticmethod
    def _value(spec: FieldSpec, value: Any, where: str, loc: tuple[Any, ...],
               errors: list[tuple[tuple[Any, ...], str, str]], into: dict[str, Any]) -> None:
        found = spec.problem(value)
        if found is None:
            into[spec.name] = value
            return
        kind, template = found
        allowed = ", ".join(_shown(a, 40) for a in (spec.allowed or ())[:12])
        if spec.allowed and len(spec.allowed) > 12:
            allowed += ", ..."
        errors.append((loc + (spec.name,), template.format(
            where=where, field=spec.name, expected=_EXPECTED.get(spec.type, spec.type), got=_json_type(value),
            value=_shown(value), low=spec.min, high=spec.max, allowed=allowed), kind))

    def frame(self, records: Sequence[ValidRecord]) -> pd.DataFrame:
        """The records as the model takes them: training column order and dtypes (sensitive ones too
        when the model needs them). A column with a null where training had none becomes float/object."""
        wanted = {f.name for f in self.features}
        if self.needs_sensitive:
            wanted |= {f.name for f in self.sensitive}
        data: dict[str, Any] = {}
        for name, dtype in self.columns:
            if name not in wanted:
                continue
            values = [r.features[name] if name in r.features else r.sensitive.get(name) for r in records]
            if dtype.startswith(("int", "uint", "bool")) and any(v is None for v in values):
                data[name] = pd.Series(values)  # a null where training had none: let pandas choose
                continue
            try:
                data[name] = np.array(values, dtype=dtype if dtype != "category" else object)
            except (TypeError, ValueError):
                data[name] = pd.Series(values)
        return pd.DataFrame(data, copy=False)


# -- redaction -----------------------------------------------------------------------------------

KEY_FILE = "secrets/redaction-{system}.key"


def redaction_key(home: Path, system: str) -> bytes:
    """The system's secret redaction key, created on first use (32 random bytes, file mode 0600)."""
    path = home / KEY_FILE.format(system=system)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32) + "\n")
    return bytes.fromhex(path.read_text().strip())


@dataclass(frozen=True)
class Redaction:
    """The fields of a system stored only as keyed hashes (``logging.redact``)."""

    fields: frozenset[str] = frozenset()
    key: bytes = b""

    def digest(self, value: Any) -> str:
        return "hmac-sha256:" + hmac.new(self.key, canon.canonical(value), hashlib.sha256).hexdigest()

    def apply(self, values: Mapping[str, Any]) -> dict[str, Any]:
        if not self.fields:
            return dict(values)
        return {k: self.digest(v) if k in self.fields else v for k, v in values.items()}


NO_REDACTION = Redaction()


def redaction_for(home: Path, system: str, fields: Iterable[str]) -> Redaction:
    chosen = frozenset(fields)
    return Redaction(chosen, redaction_key(home, system)) if chosen else NO_REDACTION


# -- records and their rows ------------------------------------------------------------------------

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
                id: str | None = None) -> PredictionRecord:
        features_json, sensitive_json = canonical_text(features), canonical_text(sensitive)
        salt = new_salt()
        text = '{"features":' + features_json + ',"salt":"' + salt + '","sensitive":' + sensitive_json + "}"
        return tuple.__new__(cls, (  # type: ignore[type-var]
            request_id, system, model_version_id, output, features, sensitive, latency_ms, served_at, caller,
            subject_id, id or new_id(), canonical_text(output), features_json, sensitive_json, salt,
            hashlib.sha256(text.encode("utf-8")).hexdigest()))  # = payload_hash(salt, features_json, sensitive_json)


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
                            served_at=served_at, caller=caller, subject_id=valid.subject_id, id=id)


def payload_hash(salt: str, features_json: str, sensitive_json: str) -> str:
    """``sha256(canonical({"features", "salt", "sensitive"}))`` from the members' canonical JSON.

    Equal to `govflow.governance.ledger.verify.payload_hash_of` (keys in sorted order: features, salt, sensitive),
    assembled by hand so the canonical text of the features is encoded once.
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


@dataclass(frozen=True)
class Receipt:
    """What a group commit wrote: the audit entry, and the records refused (id -> reason)."""

    seq: int | None
    entry_hash: str | None
    written: int
    refused: dict[str, str] = field(default_factory=dict)


class _NothingToWrite(Exception):
    pass


_CURRENT_STAGE = (select(StageChange.stage).where(StageChange.model_version_id == bindparam("mv"), chained(StageChange))
                  .order_by(StageChange.audit_seq.desc(), StageChange.at.desc()).limit(1))  # built once


def _problem(mv_id: str, stage: str | None, versions: Mapping[str, str]) -> str | None:
    if stage == "production":
        return None
    return NOT_IN_PRODUCTION.format(version=versions.get(mv_id, mv_id), stage=stage or "unknown")


def _production_problems(conn: Connection, records: Sequence[PredictionRecord],
                         versions: Mapping[str, str]) -> dict[str, str]:
    """Per model version id no longer in production: why (checked inside the writing transaction)."""
    problems = {}
    for mv_id in {r.model_version_id for r in records}:
        problem = _problem(mv_id, conn.execute(_CURRENT_STAGE, {"mv": mv_id}).scalar(), versions)
        if problem:
            problems[mv_id] = problem
    return problems


PAYLOAD_COLUMNS = ("payload_hash", "salt", "features_json", "sensitive_json", "subject_id", "created_at")
COPY_PAYLOADS = 200  # PostgreSQL: from this many payloads in one batch, COPY (else one INSERT of arrays)
_PG_PAYLOADS_UNNEST = f"""INSERT INTO prediction_payloads ({', '.join(PAYLOAD_COLUMNS)})
SELECT p.*, %(at)s FROM unnest(%(payload_hash)b::text[], %(salt)b::text[], %(features_json)b::text[],
                              %(sensitive_json)b::text[], %(subject_id)b::text[]) AS p"""


def _payload_rows(records: Sequence[PredictionRecord], stamp: Any) -> list[tuple[Any, ...]]:
    return [(r.payload_hash, r.salt, r.features_json, r.sensitive_json, r.subject_id, stamp) for r in records]


def _insert_payloads(conn: Connection, records: Sequence[PredictionRecord], created_at: datetime) -> None:
    """The payload rows, in the caller's transaction: PostgreSQL through COPY (one stream instead of
    a message per row) or, for a few, one INSERT of arrays; SQLite through executemany."""
    if conn.dialect.name == "postgresql":
        dbapi: Any = conn.connection.dbapi_connection
        if len(records) >= COPY_PAYLOADS:
            with dbapi.cursor() as cursor, cursor.copy(
                    f"COPY prediction_payloads ({', '.join(PAYLOAD_COLUMNS)}) FROM STDIN") as copy:
                for row in _payload_rows(records, created_at):
                    copy.write_row(row)
        elif records:
            with dbapi.cursor() as cursor:
                cursor.execute(_PG_PAYLOADS_UNNEST, {
                    "at": created_at, "payload_hash": [r.payload_hash for r in records],
                    "salt": [r.salt for r in records], "features_json": [r.features_json for r in records],
                    "sensitive_json": [r.sensitive_json for r in records], "subject_id": [r.subject_id for r in records]})
        return
    # The values are all plain text but one timestamp, the same for every row: converted once, with
    # the column type's own bind processor, then the rows go straight to the driver.
    column_type = PredictionPayload.__table__.c.created_at.type  # type: ignore[attr-defined]
    to_db = column_type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    stamp = to_db(created_at) if to_db else created_at
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(f"INSERT INTO prediction_payloads ({', '.join(PAYLOAD_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?)",
                           _payload_rows(records, stamp))
    finally:
        cursor.close()


# PostgreSQL, a batch of a few: the stage of each version, checked under the write lock, and the
# payload rows of the versions still in production, in ONE statement (arrays, not a row per
# message): one round trip, and no rows to take back when a version has left production.
_PG_CHECK_AND_INSERT = """
WITH stages AS (
  SELECT mv, (SELECT stage FROM stage_changes WHERE model_version_id = mv AND """ + CHAINED_SQL + """
              ORDER BY audit_seq DESC, at DESC LIMIT 1) AS stage
  FROM unnest(%(versions)b::text[]) AS mv
), inserted AS (
  INSERT INTO prediction_payloads (payload_hash, salt, features_json, sensitive_json, subject_id, created_at)
  SELECT p.payload_hash, p.salt, p.features_json, p.sensitive_json, p.subject_id, %(at)s
  FROM unnest(%(payload_hash)b::text[], %(salt)b::text[], %(features_json)b::text[], %(sensitive_json)b::text[],
              %(subject_id)b::text[], %(mv)b::text[])
       AS p(payload_hash, salt, features_json, sensitive_json, subject_id, mv)
  JOIN stages ON stages.mv = p.mv AND stages.stage = 'production'
)
SELECT mv, stage FROM stages"""


def _check_and_insert_pg(conn: Connection, records: Sequence[PredictionRecord], versions: Mapping[str, str],
                         created_at: datetime) -> dict[str, str]:
    """PostgreSQL: the production check and the payload rows of the records it keeps, one round trip.

    Every round trip of the group commit is a wait for the server and then for a CPU (and, in a
    thread, for the GIL); with a pipeline instead, psycopg's polling for a few rows cost more CPU
    than the rows themselves.
    """
    cursor: Any = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(_PG_CHECK_AND_INSERT, {
            "versions": sorted({r.model_version_id for r in records}), "at": created_at,
            "payload_hash": [r.payload_hash for r in records], "salt": [r.salt for r in records],
            "features_json": [r.features_json for r in records], "sensitive_json": [r.sensitive_json for r in records],
            "subject_id": [r.subject_id for r in records], "mv": [r.model_version_id for r in records]})
        stages = cursor.fetchall()
    finally:
        cursor.close()
    return {mv: problem for mv, stage in stages if (problem := _problem(mv, stage, versions))}


def write_predictions(ledger: Ledger, records: Sequence[PredictionRecord], *, require_production: bool = True,
                      versions: Mapping[str, str] | None = None) -> Receipt:
    """Log a batch in one transaction with one audit entry; durable when this returns.

    With ``require_production`` the records of a version that is no longer in production when the
    batch commits are refused (left out, with the reason in the receipt), so no answer of a
    suspended or replaced version is ever confirmed. ``versions`` names model version ids in messages.
    """
    if not records:
        return Receipt(None, None, 0)
    refused: dict[str, str] = {}
    systems: dict[str, int] = {}
    for r in records:
        systems[r.system] = systems.get(r.system, 0) + 1
    subject = ", ".join(f"{s}: {n}" for s, n in sorted(systems.items()))
    try:
        with ledger.write(EVENT_TYPE, subject) as w:
            now = canon.utc_now()
            kept = list(records)
            inserted = False
            if require_production:
                if w.conn.dialect.name == "postgresql" and len(records) < COPY_PAYLOADS:
                    problems, inserted = _check_and_insert_pg(w.conn, records, versions or {}, now), True
                else:
                    problems = _production_problems(w.conn, records, versions or {})
                if problems:
                    refused = {r.id: problems[r.model_version_id] for r in records if r.model_version_id in problems}
                    kept = [r for r in records if r.model_version_id not in problems]
                    if not kept:
                        raise _NothingToWrite
            # Rows built here rather than through `Writer.add` (its per-column normalising is the
            # largest cost per row, and these values have their stored types already): the same
            # columns (checked at import), buffered the same way, hashed and chained by `_commit`.
            w.rows.setdefault("predictions", []).extend([
                {"id": r.id, "request_id": r.request_id, "system": r.system, "model_version_id": r.model_version_id,
                 "output_json": r.output_json, "latency_ms": float(r.latency_ms), "served_at": r.served_at,
                 "caller": r.caller, "payload_hash": r.payload_hash, "audit_seq": None} for r in kept])
            if not inserted:
                _insert_payloads(w.conn, kept, now)
    except _NothingToWrite:
        return Receipt(None, None, 0, refused)
    return Receipt(w.seq, w.entry_hash, len(kept), refused)


def refuse_unless_written(receipt: Receipt, record_ids: Iterable[str]) -> None:
    """Raise `ComplianceBlocked` with the first reason when any of these records was refused."""
    for rid in record_ids:
        if rid in receipt.refused:
            raise ComplianceBlocked(receipt.refused[rid])


def trace_prediction(conn: Connection, id_or_request_id: str) -> dict[str, Any]:
    """Prediction → model version → gate decision and approvals → training run → training data →
    the validation, fairness and performance results the approvals rested on. See
    `govflow.governance.trail.trace`."""
    from govflow.governance.trail.trace import trace_prediction as trace

    return trace(conn, id_or_request_id)
