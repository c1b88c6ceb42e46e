"""The input schema of the version in production, and the validation of a request's records against it.

`InputSchema`: the production version's feature columns in training order, their types, ranges and
allowed values from its data contract, and its sensitive attributes; `InputSchema.validate` checks
one request's records with an error per field at fault (`RecordError`, with FastAPI-shaped locations),
`InputSchema.frame` turns the valid ones into the frame the model takes.

Out of domain is not out of contract: with ``out_of_domain="flag"`` (the config's default
``serving.out_of_domain``), a value outside the range seen in training, or a category never seen, is
scored and flagged (`ValidRecord.out_of_domain` names the fields, `flag_out_of_domain` writes them into
the logged output; monitoring counts them); ``reject`` refuses it. A wrong type, a null where training
had none, a missing or unknown field is refused either way. `govflow serve`, `run score`, an
instrumented own service and a recommender all follow the version's ``serving.out_of_domain``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from govflow.errors import InputError

MAX_BATCH = 1000  # records per request (`govflow serve`); a larger batch is refused with 413
RESERVED = ("sensitive", "subject_id")  # keys of a record that are not features

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

OUT_OF_DOMAIN = ("out_of_range", "not_allowed")  # the problems `flag` scores and records instead of refusing
OUT_OF_DOMAIN_MODES = ("flag", "reject")

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
    out_of_domain: tuple[str, ...] = ()  # fields outside the training range or set (flagged, still scored)
    subject_id_sent: str | None = None  # the subject_id sent beside the id column (whose value subject_id holds)


def flag_out_of_domain(outputs: list[Any], valid: Sequence[ValidRecord]) -> list[Any]:
    """The outputs to log, each carrying ``"out_of_domain": [fields]`` when its record had values outside
    the training range or set (the one rule of every serving path). An object output gets the key (in
    place); any other output (an own service's ``"good"``) is logged as ``{"output": ..., "out_of_domain": [...]}``.

    >>> flag_out_of_domain([{"score": 0.4}, "good", "bad"],
    ...                    [ValidRecord({}, {}, out_of_domain=("age",)), ValidRecord({}, {}, out_of_domain=("age",)),
    ...                     ValidRecord({}, {})])
    [{'score': 0.4, 'out_of_domain': ['age']}, {'output': 'good', 'out_of_domain': ['age']}, 'bad']
    """
    for i, record in enumerate(valid):
        if record.out_of_domain:
            output = outputs[i]
            if isinstance(output, dict):
                output["out_of_domain"] = list(record.out_of_domain)
            else:
                outputs[i] = {"output": output, "out_of_domain": list(record.out_of_domain)}
    return outputs


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
    # serving.out_of_domain: flag (score, and record the fields) | reject (refuse). Every serving path
    # passes the version's config (default flag); a schema built without saying refuses.
    out_of_domain: str = "reject"

    @classmethod
    def build(cls, *, version: str, contract: Mapping[str, Any], columns: Sequence[tuple[str, str]],
              feature_names: Sequence[str], sensitive_names: Sequence[str], needs_sensitive: bool,
              id_column: str | None = None, out_of_domain: str = "reject") -> InputSchema:
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
                   sensitive_as_features=any(n in feature_names for n in sensitive_names), out_of_domain=out_of_domain)

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "features": [f.to_dict() for f in self.features],
                "sensitive": [f.to_dict() for f in self.sensitive], "needs_sensitive": self.needs_sensitive,
                "id_column": self.id_column, "max_batch": MAX_BATCH, "out_of_domain": self.out_of_domain}

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
        flagged: list[str] = []
        for spec in self.features:
            if spec.name not in record:
                if spec.name in sensitive_names and spec.name in (record.get("sensitive") or {}):
                    features[spec.name] = record["sensitive"][spec.name]  # sensitive_as_features
                    continue
                errors.append((loc + (spec.name,), MISSING.format(where=where, field=spec.name), "missing"))
                continue
            self._value(spec, record[spec.name], where, loc, errors, features, flagged)
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
                self._value(spec, given[spec.name], f"{where}sensitive.", loc + ("sensitive",), errors, sensitive, flagged)
            elif spec.name in features:
                sensitive[spec.name] = features[spec.name]
        missing = [f.name for f in self.sensitive if f.name not in sensitive]
        if self.needs_sensitive and missing:
            errors.append((loc + ("sensitive",), SENSITIVE_REQUIRED.format(
                where=where, version=self.version, names=", ".join(missing)), "missing"))
        subject = sent = record.get("subject_id")
        if self.id_column and self.id_column in record:
            subject = record[self.id_column]
        for value in (subject, sent):
            if value is not None and not (isinstance(value, str | int) and not isinstance(value, bool)
                                          and len(str(value)) <= 200):
                errors.append((loc + ("subject_id",), BAD_SUBJECT.format(where=where), "type"))
                break
        if len(errors) > before:
            return None
        also = None if sent is None or str(sent) == str(subject) else str(sent)
        return ValidRecord(features, sensitive, None if subject is None else str(subject), tuple(dict.fromkeys(flagged)),
                           also)

    def _value(self, spec: FieldSpec, value: Any, where: str, loc: tuple[Any, ...],
               errors: list[tuple[tuple[Any, ...], str, str]], into: dict[str, Any], flagged: list[str]) -> None:
        found = spec.problem(value)
        if found is None or (found[0] in OUT_OF_DOMAIN and self.out_of_domain == "flag"):
            into[spec.name] = value
            if found is not None:
                flagged.append(spec.name)
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
            except (TypeError, ValueError, OverflowError):  # OverflowError: an integer past int64, out of domain
                data[name] = pd.Series(values)
        return pd.DataFrame(data, copy=False)
