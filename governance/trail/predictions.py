"""The prediction log: what a served model was given, what it answered, and which version answered.

The ledger side of `govflow serve` and `govflow run score` (EU AI Act Art. 12 automatic logging), in
modules each with one job, all re-exported here:

* `govflow.governance.trail.input_schema`: `InputSchema`, the production version's input schema and
  the validation of one request's records against it, with an error per field at fault.
* `govflow.governance.trail.records`: `PredictionRecord`, one logged prediction. Its ``output`` is any
  JSON value (a decision and score for a classifier, a list of items for a recommender).
* `govflow.governance.trail.redaction`: the ``logging.redact`` fields, stored as keyed hashes.
* `govflow.governance.trail.prediction_writers`: the dialect-specific write path (`PredictionWriter`).
* here, `write_predictions`: a batch of records in ONE ledger transaction with ONE audit entry (group
  commit), refusing, in that same transaction, the records of a version no longer in production.

Personal data is kept apart (DESIGN.md): the features, the sensitive attributes and the subject id
go to ``prediction_payloads`` (not chained, purgeable), each payload with its own random salt, and
``payload_hash = sha256(canonical({"features", "salt", "sensitive", "subject_id", "subject_id_sent"}))``
(what `govflow.governance.ledger.verify` recomputes; payloads logged before the subject ids were
hashed have the old form without them) stays on the chained ``predictions`` row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from govflow import canonical as canon
from govflow.errors import ComplianceBlocked
from govflow.governance.ledger.engine import COLUMN_KINDS, Ledger
from govflow.governance.ledger.writer import Writer
from govflow.governance.trail import rollup
from govflow.governance.trail.input_schema import (  # noqa: F401 - the prediction log's public names
    BAD_SUBJECT,
    MAX_BATCH,
    MISSING,
    NOT_A_RECORD,
    NOT_ALLOWED,
    NOT_AN_OBJECT,
    NULL_VALUE,
    OUT_OF_RANGE,
    RESERVED,
    SENSITIVE_AMONG_FEATURES,
    SENSITIVE_REQUIRED,
    UNKNOWN_FIELD,
    UNKNOWN_SENSITIVE,
    WRONG_TYPE,
    FieldSpec,
    InputSchema,
    RecordError,
    ValidRecord,
    _json_type,
    flag_out_of_domain,
)
from govflow.governance.trail.prediction_rows import Unusual
from govflow.governance.trail.prediction_writers import (  # noqa: F401
    COPY_PAYLOADS,
    NOT_IN_PRODUCTION,
    PAYLOAD_COLUMNS,
    PredictionWriter,
    writer_for,
)
from govflow.governance.trail.records import (  # noqa: F401
    PredictionRecord,
    canonical_text,
    make_record,
    new_salt,
    payload_hash,
)
from govflow.governance.trail.redaction import (  # noqa: F401
    KEY_FILE,
    NO_REDACTION,
    Redaction,
    redaction_for,
    redaction_key,
)

EVENT_TYPE = "predictions.logged"
PREDICTION_COLUMNS = {"id", "request_id", "system", "model_version_id", "output_json", "latency_ms", "served_at",
                      "caller", "payload_hash", "audit_seq"}
assert PREDICTION_COLUMNS == {name for name, _ in COLUMN_KINDS["predictions"]}, "predictions changed: update write_predictions"


@dataclass(frozen=True)
class Receipt:
    """What a group commit wrote: the audit entry, and the records refused (id -> reason)."""

    seq: int | None
    entry_hash: str | None
    written: int
    refused: dict[str, str] = field(default_factory=dict)


class _NothingToWrite(Exception):
    pass


def write_predictions(ledger: Ledger, records: Sequence[PredictionRecord], *, require_production: bool = True,
                      versions: Mapping[str, str] | None = None) -> Receipt:
    """Log a batch in one transaction with one audit entry; durable when this returns.

    With ``require_production`` the records of a version that is no longer in production when the
    batch commits are refused (left out, with the reason in the receipt), so no answer of a
    suspended or replaced version is ever confirmed. ``versions`` names model version ids in messages.
    The database-specific part is the ledger's `PredictionWriter` (`writer_for` its dialect).
    """
    if not records:
        return Receipt(None, None, 0)
    refused: dict[str, str] = {}
    systems: dict[str, int] = {}
    for r in records:
        systems[r.system] = systems.get(r.system, 0) + 1
    subject = ", ".join(f"{s}: {n}" for s, n in sorted(systems.items()))
    writer = writer_for(ledger.engine.dialect.name)
    try:
        with ledger.write(EVENT_TYPE, subject) as w:
            now = canon.utc_now()
            kept = list(records)
            if require_production:
                problems = writer.check_and_insert(w.conn, records, versions or {}, now)
                if problems:
                    refused = {r.id: problems[r.model_version_id] for r in records if r.model_version_id in problems}
                    kept = [r for r in records if r.model_version_id not in problems]
                    if not kept:
                        raise _NothingToWrite
            else:
                writer.insert_payloads(w.conn, kept, now)
            _insert_chained(w, writer, kept)
            rollup.add_records(w.conn, kept)  # the dashboard's sums, in the same transaction
            w.predictions_summed = True
    except _NothingToWrite:
        return Receipt(None, None, 0, refused)
    return Receipt(w.seq, w.entry_hash, len(kept), refused)


def _insert_chained(w: Writer, writer: PredictionWriter, kept: Sequence[PredictionRecord]) -> None:
    """The chained rows, hashed and encoded by the writer for the whole batch (`prediction_rows`).

    A record with a value of another type than its field's (`Unusual`) sends the batch the generic
    way: rows buffered in the ledger writer (the same columns, checked at import), hashed and chained
    by its `_commit`.
    """
    try:
        w.insert_own("predictions", lambda cursor, seq: writer.insert_predictions(w.conn, cursor, kept, seq))
    except Unusual:
        w.rows.setdefault("predictions", []).extend([
            {"id": r.id, "request_id": r.request_id, "system": r.system, "model_version_id": r.model_version_id,
             "output_json": r.output_json, "latency_ms": float(r.latency_ms), "served_at": r.served_at,
             "caller": r.caller, "payload_hash": r.payload_hash, "audit_seq": None} for r in kept])


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
