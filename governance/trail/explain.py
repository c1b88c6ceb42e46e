"""Explanations of single decisions (EU AI Act Art. 86): what a person is told, and its record.

An explanation names the features that pushed one logged decision most, in plain words and
numbers (see `govflow.governance.trail.attribution` for the methods), computed by
`govflow.flows.models.explaining` from the recorded input and the exact model version that answered.

The first explanation of a decision is recorded in the ledger (an ``explanation`` artifact linked to
the model version, in one audited transaction): its method, its terms and the SHA-256 of the very text
shown, so what a person was told can be proven later. The feature VALUES are left out of the
record: they are personal data, purgeable only in ``prediction_payloads``; whoever holds the payload
can re-render the text and match its hash. Once a payload is erased, an explanation not given
before is refused with the erasure's date and reason (never guessed); one given before is shown from
its record, without values.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from govflow import canonical as canon
from govflow.errors import InputError
from govflow.governance.ledger.chained import chained
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import Artifact, Purge, PurgedPayload
from govflow.governance.trail.attribution import Attribution

KIND = "explanation"
EVENT_TYPE = "explanation.given"
TOP = 5  # features named in words; every term is in the numbers
ERASED = ("the input of prediction {pid} was erased ({kind}, {at}, by {by}: {reason}); its explanation was never "
          "given before and cannot be computed without it: none is guessed")
GONE = "the input of prediction {pid} is missing without an erasure record: run govflow verify"
REDACTED = ("prediction {pid}: the feature(s) {names} were redacted when logged (logging.redact): the model's input "
            "cannot be rebuilt, so the decision cannot be explained from the record")
NOT_A_DECISION = ("prediction {pid} answered {shape}, not a decision with a score: explanations cover a "
                  "classifier's decisions and a recommender's lists")


class PayloadErased(InputError):
    """The decision's input was purged (retention or erasure) before any explanation was given."""


def record_name(prediction_id: str) -> str:
    return f"prediction {prediction_id}"


@dataclass(frozen=True)
class Term:
    """One feature's push on the decision's log-odds (positive: towards the favourable outcome)."""

    feature: str
    value: Any
    contribution: float


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value


def plain_words(terms: list[Term], *, favourable: str, top: int = TOP) -> list[str]:
    """The strongest ``top`` terms as sentences, strongest first."""
    lines = []
    for term in terms[:top]:
        way = "towards" if term.contribution >= 0 else "away from"
        lines.append(f"{term.feature} = {_shown(term.value)} pushed the decision {way} '{favourable}' "
                     f"by {abs(term.contribution):.3f} in log-odds")
    return lines


def build(*, prediction: Mapping[str, Any], version: str, attribution: Attribution, features: Mapping[str, Any],
          favourable: str, recorded_score: float | None) -> dict[str, Any]:
    """The explanation as it is shown (JSON-safe), with every term and the text."""
    terms = sorted((Term(f, features.get(f), c) for f, c in attribution.contributions.items()),
                   key=lambda t: (-abs(t.contribution), t.feature))
    import math

    score = 1 / (1 + math.exp(-attribution.log_odds))
    text = plain_words(terms, favourable=favourable)
    answer = {
        "prediction_id": prediction["id"], "system": prediction["system"], "model_version": version,
        "model_version_id": prediction["model_version_id"], "served_at": canon.format_ts(prediction["served_at"]),
        "output": json.loads(prediction["output_json"]), "favourable": favourable, "method": attribution.method,
        "log_odds": attribution.log_odds, "score": score,
        "base": {"value": attribution.base, "is": attribution.base_label},
        "terms": [{"feature": t.feature, "value": t.value, "contribution": t.contribution} for t in terms],
        "text": text,
        "sums": "base + the terms' contributions = log_odds; score = 1 / (1 + exp(-log_odds))",
    }
    if recorded_score is not None and abs(recorded_score - score) > 1e-6:
        answer["warning"] = (f"recomputed score {score:.6f} differs from the recorded {recorded_score:.6f}: the "
                             "model answers at random or the environment changed; the terms explain the recomputed one")
    return answer


def text_hash(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def _record_body(answer: Mapping[str, Any], payload_hash: str) -> dict[str, Any]:
    """What the ledger keeps of an explanation: everything but the feature values."""
    return {"prediction_id": answer["prediction_id"], "model_version": answer["model_version"],
            "method": answer["method"], "log_odds": answer["log_odds"], "score": answer["score"], "base": answer["base"],
            "contributions": {t["feature"]: t["contribution"] for t in answer["terms"]},
            "text_sha256": text_hash(answer["text"]), "payload_hash": payload_hash}


def find_recorded(conn: Connection, prediction_id: str, model_version_id: str) -> dict[str, Any] | None:
    """The first recorded explanation of a prediction (its artifact row), if any."""
    row = conn.execute(select(Artifact).where(Artifact.model_version_id == model_version_id, Artifact.kind == KIND,
                                              Artifact.name == record_name(prediction_id), chained(Artifact))
                       .order_by(Artifact.audit_seq).limit(1)).mappings().first()
    return None if row is None else dict(row)


def recorded_summary(ledger: Ledger, row: Mapping[str, Any]) -> dict[str, Any]:
    body = json.loads(ledger.artifacts.read(row["content_hash"]))
    return {"audit_seq": row["audit_seq"], "at": canon.format_ts(row["created_at"]), "artifact": row["content_hash"],
            "body": body}


class _AlreadyRecorded(Exception):
    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row


def record_first(ledger: Ledger, answer: dict[str, Any], payload_hash: str, *, by: str,
                 body: Callable[[Mapping[str, Any], str], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Record the explanation unless one is already recorded (checked again under the write lock, so
    two first requests at once record one); the record in force. ``body`` makes what is kept of an
    answer of another shape (a recommender's lists); the default keeps a decision's terms."""
    from govflow.governance.ledger.runs import add_artifact

    pid, mv = answer["prediction_id"], answer["model_version_id"]
    with ledger.read() as conn:
        existing = find_recorded(conn, pid, mv)
    if existing is not None:
        return recorded_summary(ledger, existing)
    try:
        with ledger.write(EVENT_TYPE, f"{record_name(pid)} to {by}"[:500]) as w:
            existing = find_recorded(w.conn, pid, mv)
            if existing is not None:
                raise _AlreadyRecorded(existing)  # rolls back: no empty audit entry
            data = canon.canonical((body or _record_body)(answer, payload_hash))
            add_artifact(w, ledger.artifacts, kind=KIND, name=record_name(pid), data=data,
                         media_type="application/json", model_version_id=mv)
    except _AlreadyRecorded as already:
        return recorded_summary(ledger, already.row)
    with ledger.read() as conn:
        row = find_recorded(conn, pid, mv)
    assert row is not None
    return recorded_summary(ledger, row)


def record_new(ledger: Ledger, answers: list[tuple[dict[str, Any], str]], *, by: str) -> list[dict[str, Any]]:
    """Record the explanations of decisions just made (``serving: {explain: inline}``: none can be recorded
    yet), ``(answer, payload hash)`` each, in one audited transaction; their records, in order."""
    from govflow.governance.ledger.runs import add_artifact

    with ledger.write(EVENT_TYPE, f"{len(answers)} explanation(s) given inline to {by}"[:500]) as w:
        for answer, payload_hash in answers:
            add_artifact(w, ledger.artifacts, kind=KIND, name=record_name(answer["prediction_id"]),
                         data=canon.canonical(_record_body(answer, payload_hash)), media_type="application/json",
                         model_version_id=answer["model_version_id"])
    with ledger.read() as conn:
        rows = [find_recorded(conn, a["prediction_id"], a["model_version_id"]) for a, _ in answers]
    return [recorded_summary(ledger, row) for row in rows if row is not None]


def erased_reason(conn: Connection, prediction_id: str, payload_hash: str) -> str:
    purge = conn.execute(select(Purge.kind, Purge.at, Purge.by, Purge.reason)
                         .join(PurgedPayload, PurgedPayload.purge_id == Purge.id)
                         .where(PurgedPayload.payload_hash == payload_hash).limit(1)).first()
    if purge is None:
        return GONE.format(pid=prediction_id)
    return ERASED.format(pid=prediction_id, kind=purge[0], at=canon.format_ts(purge[1]), by=purge[2], reason=purge[3])
