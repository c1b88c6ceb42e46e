"""Retention and erasure of the personal data in prediction payloads, each purge under a tombstone.

``prediction_payloads`` is the ledger's one purgeable table (DESIGN.md): the features, sensitive
attributes and subject id of each logged prediction. Two ways to purge, both audited:

* `apply_retention`: the payloads of one system's predictions older than ``logging.retention_days``.
  Never younger than six months (EU AI Act Art. 19 / 26(6)): a shorter period is refused, not clamped.
* `erase_subject`: every payload of one data subject (a data-protection erasure request). The subject
  id itself is *not* written into the chained tombstone (that would keep the very data being erased);
  the tombstone holds the request reference, the count and the payload hashes.

Each purge is one transaction that first records the tombstone (a ``purges`` row and one
``purged_payloads`` row per payload hash, chained by one audit entry) and then deletes the payloads;
the database refuses the DELETE of any payload whose hash no tombstone names. The chained
``predictions`` rows keep their ``payload_hash``, so `govflow verify` still passes and counts what
was purged. Large purges are split into transactions of at most `BATCH` payloads, each with its own
tombstone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, or_, select

from govflow import canonical as canon
from govflow.errors import InputError
from govflow.governance.config import MIN_RETENTION_DAYS
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import Prediction, PredictionPayload, Purge, PurgedPayload
from govflow.governance.ledger.verify import refuse_changed_payloads
from govflow.governance.registry.versions import os_user

BATCH = 5000
TOO_SHORT = ("retention of {days} days is shorter than the {min} days the EU AI Act requires (Art. 19, Art. 26(6)); "
             "set logging.retention_days to {min} or more")
NO_SUBJECT = "give the data subject's id: --subject ID"
NO_RECORDS = ("no records for subject {subject}: no stored prediction payload carries it, neither as the subject_id "
              "sent with a prediction nor as the value of the system's id column (data.id_column); nothing was "
              "purged. Give the id exactly as it was sent (ids are compared as text), or see `govflow retention "
              "list` for erasures already done")


class NoRecordsForSubject(InputError):
    """An erasure request names a subject the ledger holds no payload of (exit 2: nothing was done)."""


@dataclass(frozen=True)
class PurgeResult:
    kind: str  #: retention | erasure
    count: int  #: payloads purged (or that would be, in a dry run)
    purge_ids: tuple[str, ...]  #: the tombstones written (one per batch)
    seqs: tuple[int, ...]  #: their audit entries
    cutoff: datetime | None = None  #: retention: the payloads of predictions served before this were purged
    dry_run: bool = False

    def describe(self) -> str:
        what = "would purge" if self.dry_run else "purged"
        scope = f" served before {canon.format_ts(self.cutoff)}" if self.cutoff else ""  # by the chained served_at
        tomb = "" if self.dry_run or not self.purge_ids else (
            f"; tombstone(s) {', '.join(self.purge_ids)} in audit entr{'y' if len(self.seqs) == 1 else 'ies'} "
            f"{', '.join(map(str, self.seqs))}")
        return f"{self.kind}: {what} {self.count} prediction payload(s){scope}{tomb}"


def cutoff_for(days: int, now: datetime) -> datetime:
    """The serving time before which predictions' payloads are past retention; refuses less than six months."""
    if days < MIN_RETENTION_DAYS:
        raise InputError(TOO_SHORT.format(days=days, min=MIN_RETENTION_DAYS))
    return now - timedelta(days=days)


def _purge(ledger: Ledger, *, kind: str, criteria: dict[str, Any], reason: str, by: str,
           select_batch: Callable[[Connection, int], list[str]], dry_run: bool, cutoff: datetime | None) -> PurgeResult:
    if dry_run:
        with ledger.read() as conn:
            count = len(select_batch(conn, 10**12))
        return PurgeResult(kind, count, (), (), cutoff, True)
    total, ids, seqs = 0, [], []
    while True:
        with ledger.write(f"payloads.purged.{kind}", f"{kind}: {reason}"[:500]) as w:
            hashes = select_batch(w.conn, BATCH)
            if not hashes:
                break
            refuse_changed_payloads(w.conn, hashes, kind)
            tomb = w.add(Purge, kind=kind, at=canon.utc_now(), by=by, reason=reason,
                         criteria_json=canon.canonical(criteria).decode("utf-8"), count=len(hashes))
            for payload_hash in hashes:
                w.add(PurgedPayload, purge_id=tomb["id"], payload_hash=payload_hash)
            # The trigger lets a payload go only once its tombstone row exists: delete after the inserts.
            w.then(delete(PredictionPayload).where(PredictionPayload.payload_hash.in_(hashes)), len(hashes))
        total += len(hashes)
        ids.append(str(tomb["id"]))
        assert w.seq is not None
        seqs.append(w.seq)
        if len(hashes) < BATCH:
            break
    return PurgeResult(kind, total, tuple(ids), tuple(seqs), cutoff)


def apply_retention(ledger: Ledger, system: str, retention_days: int, *, now: datetime | None = None,
                    by: str | None = None, dry_run: bool = False) -> PurgeResult:
    """Purge the payloads of ``system``'s predictions served more than ``retention_days`` ago."""
    cutoff = cutoff_for(retention_days, now or canon.utc_now())

    def batch(conn: Connection, limit: int) -> list[str]:
        return list(conn.execute(
            select(PredictionPayload.payload_hash).join(Prediction, Prediction.payload_hash == PredictionPayload.payload_hash)
            .where(Prediction.system == system, Prediction.served_at < cutoff)  # chained, unlike created_at
            .distinct().order_by(PredictionPayload.payload_hash).limit(limit)).scalars())

    criteria = {"system": system, "retention_days": retention_days, "served_before": canon.format_ts(cutoff)}
    return _purge(ledger, kind="retention", criteria=criteria, by=by or os_user(), select_batch=batch,
                  reason=f"retention period of {retention_days} days (logging.retention_days) passed",
                  dry_run=dry_run, cutoff=cutoff)


def erase_subject(ledger: Ledger, subject_id: str, *, reason: str, request: str | None = None,
                  by: str | None = None, dry_run: bool = False) -> PurgeResult:
    """Purge every payload of one data subject (an erasure request).

    The subject is found by either id a record carried: the value of the system's id column
    (``data.id_column``) or the ``subject_id`` sent with it (``prediction_payloads.subject_id``, and
    ``subject_id_sent`` when a record carried both). A subject with no payload is `NoRecordsForSubject`
    (exit 2), never a silent "purged 0".
    """
    if not subject_id or not subject_id.strip():
        raise InputError(NO_SUBJECT)

    def batch(conn: Connection, limit: int) -> list[str]:
        return list(conn.execute(select(PredictionPayload.payload_hash).where(or_(
            PredictionPayload.subject_id == subject_id, PredictionPayload.subject_id_sent == subject_id))
            .where(_REFERRED)  # a row no chained prediction holds the hash of is planted: not this subject's record
            .order_by(PredictionPayload.payload_hash).limit(limit)).scalars())

    with ledger.read() as conn:
        if not batch(conn, 1):
            raise NoRecordsForSubject(NO_RECORDS.format(subject=subject_id))
    criteria = {"subject": "withheld: the subject id is personal data", "request": request}
    return _purge(ledger, kind="erasure", criteria=criteria, by=by or os_user(), select_batch=batch,
                  reason=reason or "erasure request", dry_run=dry_run, cutoff=None)


_REFERRED = select(Prediction.id).where(Prediction.payload_hash == PredictionPayload.payload_hash).exists()


def purges(conn: Connection) -> list[dict[str, Any]]:
    """Every tombstone, oldest first."""
    return [dict(r) for r in conn.execute(select(Purge).order_by(Purge.audit_seq)).mappings()]
