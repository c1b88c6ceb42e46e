"""`govflow verify`: is the ledger exactly what its hash chain says it is?

Three passes, each streaming (memory does not grow with the ledger):
1. the chain: sequence numbers contiguous from 1, each ``prev_hash`` the previous ``entry_hash``,
   each ``entry_hash`` and ``payload_hash`` recomputed;
2. the rows: every row of every history table, grouped by the ``audit_seq`` that claims it, must hash
   to what that entry's payload says (a row changed, added or removed behind the chain is caught);
3. the files: every stored artifact and model re-hashed; every prediction payload still present
   re-hashed (its subject ids too, see `payload_intact`) and referred to by a prediction (a planted
   row hashes right: only the chain's reference tells it apart), and every absent one accounted for
   by a purge tombstone; one full outer join of predictions and payloads, so one pass over each.
An exported head (``--head``) must still be in the chain: a rewrite of the whole chain is caught too;
the heads anchored outside the ledger (``heads.log`` and the other sinks) are checked by
`govflow.governance.ledger.anchors`.

``since`` (``govflow verify --since HEAD``) checks only what was appended after a head verified
before: that head must still be in the chain at its position, and every entry after it must link
to it; the rows, payloads and files of those entries are checked as in a full verify, the schema
pass always runs. What it cannot see is a change before the head that leaves the head's own entry
alone (an older entry or row edited in place while the triggers were off, a row inserted claiming an
older entry): only a full verify re-reads those. A rewrite of the chain up to the head changes the
head's hash, and is caught.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select

from govflow import canonical as canon
from govflow.governance.ledger import identity
from govflow.governance.ledger.engine import Ledger, identity_key
from govflow.governance.ledger.readonly import LedgerMissing
from govflow.governance.ledger.schema import (
    ApprovalSignature,
    Artifact,
    AuditEntry,
    ModelVersion,
    Prediction,
    PredictionPayload,
    PurgedPayload,
)
from govflow.governance.ledger.schema_check import check_schema
from govflow.governance.ledger.verify_report import Finding, Report
from govflow.governance.ledger.verify_rows import after_clause, check_rows

BAD_SINCE = ("--since {given!r}: expected a chain head as `govflow verify` prints it, its entry hash "
             "(64 hex digits), optionally after its sequence number and a colon (SEQ:HASH)")
SINCE_CHANGED = ("the head verified before is still in the chain, but its entry no longer matches its hash: "
                 "changed in place (run a full `govflow verify` to find what else was)")
SINCE_GONE = ("the head verified before is no longer in the chain{at}: the chain up to it was rewritten "
              "(run a full `govflow verify` to find where)")


@dataclass(frozen=True)
class Since:
    """A head verified before: its position, hash and time (where an incremental verify starts)."""

    seq: int
    entry_hash: str
    recorded_at: str


def parse_since(text: str) -> tuple[int | None, str]:
    """``HASH`` or ``SEQ:HASH`` -> ``(seq or None, hash)``; `InputError` saying the form otherwise."""
    from govflow.errors import InputError

    seq_text, _, head = text.strip().rpartition(":")
    if seq_text == "" and ":" in text:
        raise InputError(BAD_SINCE.format(given=text))
    head = head.lower()
    if len(head) != 64 or any(c not in "0123456789abcdef" for c in head) or (seq_text and not seq_text.isdigit()):
        raise InputError(BAD_SINCE.format(given=text))
    return (int(seq_text) if seq_text else None), head


def find_since(ledger: Ledger, text: str, report: Report) -> Since | None:
    """The entry ``text`` names, if it is still there at its position; else a finding and None."""
    want_seq, head = parse_since(text)
    with ledger.read() as conn:
        row = conn.execute(select(AuditEntry.seq, AuditEntry.recorded_at, AuditEntry.event_type, AuditEntry.subject,
                                  AuditEntry.payload_json, AuditEntry.payload_hash, AuditEntry.prev_hash)
                           .where(AuditEntry.entry_hash == head)).first()
    if row is None or (want_seq is not None and row[0] != want_seq):
        at = f" at entry {want_seq}" if want_seq is not None else ""
        moved = f" (it is now entry {row[0]})" if row is not None else ""
        report.findings.append(Finding(want_seq, f"head {head[:16]}...", SINCE_GONE.format(at=at) + moved))
        return None
    seq, recorded_at, event_type, subject, payload_json, payload_hash, prev_hash = row
    if (canon.entry_hash(seq, recorded_at, event_type, subject, payload_hash, prev_hash) != head
            or canon.sha256_hex(payload_json.encode("utf-8")) != payload_hash):
        report.findings.append(Finding(seq, f"audit entry {seq}", SINCE_CHANGED))
        return None
    return Since(int(seq), head, str(recorded_at))


def open_for_verify(url: str | None, home: Path) -> Ledger:
    """The ledger to verify, opened read-only; `TamperingError` when the home recorded another one, or one now gone."""
    key = identity_key(url, home)
    try:
        ledger = Ledger.open(url, home, read_only=True)
    except LedgerMissing:
        identity.check(home, key, None, present=False)
        raise
    try:
        identity.check(home, key, ledger._identity_or_none())
    except BaseException:
        ledger.close()
        raise
    return ledger


def verify(ledger: Ledger, heads: list[str] = (), since: str | None = None) -> Report:  # type: ignore[assignment]
    """Every pass over the whole ledger; with ``since`` (a head verified before), only what came after it."""
    report = Report()
    missing = _check_schema(ledger, report)
    start: Since | None = None
    if since is not None and AuditEntry.__tablename__ not in missing:
        start = find_since(ledger, since, report)
        if start is None:
            return report
        report.since_seq = start.seq
    if AuditEntry.__tablename__ not in missing:
        expected = _check_chain(ledger, report, start)
        check_rows(ledger, expected, report, skip=missing, after=start.seq if start else 0)
    _check_files(ledger, report, skip=missing, after=start.seq if start else 0)
    if "approval_signatures" not in missing:  # each signed approval against its key (ssh-keygen -Y verify)
        from govflow.governance.access.signatures import ledger_findings

        with ledger.read() as conn:
            report.signatures = conn.execute(select(func.count()).select_from(ApprovalSignature)).scalar_one()
            bad = [Finding(seq, record, problem) for seq, record, problem in ledger_findings(conn)]
        report.findings += bad
        report.bad_signatures = [finding.record for finding in bad]
    known = _present(ledger, list(heads))
    for head in heads:
        if head not in known:
            report.findings.append(Finding(None, f"head {head[:16]}...", "an exported chain head is no longer in the chain: the chain was rewritten"))
    return report


def _check_schema(ledger: Ledger, report: Report) -> set[str]:
    """Pass 0: the triggers and constraints the migrations create are all in place. Returns the missing tables."""
    with ledger.read() as conn:
        problems, missing = check_schema(conn)
    report.findings += [Finding(None, record, problem) for record, problem in problems]
    return missing


def _check_chain(ledger: Ledger, report: Report, since: Since | None = None) -> dict[int, str]:
    """Pass 1: links and hashes. Returns each entry's payload text, for the rows pass to read.

    The hot loop of verify (it must keep up with ledgers of millions of entries): the row tuple is
    unpacked as it comes, and messages are only formatted for a finding. From ``since``, the entries
    after it, the first linking to its hash.
    """
    payloads: dict[int, str] = {}
    prev, want_seq, count, prev_at = canon.GENESIS, 1, 0, ""
    if since is not None:
        prev, want_seq, prev_at = since.entry_hash, since.seq + 1, since.recorded_at
    sha256, link, findings = hashlib.sha256, canon.entry_hash, report.findings
    with ledger.read() as conn:
        result = conn.execution_options(stream_results=True, yield_per=5000).execute(
            select(AuditEntry.seq, AuditEntry.recorded_at, AuditEntry.event_type, AuditEntry.subject,
                   AuditEntry.payload_json, AuditEntry.payload_hash, AuditEntry.prev_hash,
                   AuditEntry.entry_hash).where(AuditEntry.seq >= want_seq).order_by(AuditEntry.seq)
        )
        for seq, recorded_at, event_type, subject, payload_json, payload_hash, prev_hash, entry in result:
            count += 1
            if seq != want_seq:
                findings.append(Finding(min(seq, want_seq), f"audit entry {want_seq}", f"missing: the next entry is {seq}"))
                report.gaps.append(range(want_seq, seq))
            if prev_hash != prev:
                findings.append(Finding(seq, _where(seq, event_type, subject), f"prev_hash {prev_hash[:16]}... does not link to the entry before it ({prev[:16]}...)"))
            if sha256(payload_json.encode("utf-8")).hexdigest() != payload_hash:
                findings.append(Finding(seq, _where(seq, event_type, subject), "its payload does not match its payload_hash"))
            if link(seq, recorded_at, event_type, subject, payload_hash, prev_hash) != entry:
                findings.append(Finding(seq, _where(seq, event_type, subject), "entry_hash does not match the entry's content"))
            if recorded_at < prev_at:  # fixed-width RFC 3339 UTC text: its order is time order
                findings.append(Finding(seq, _where(seq, event_type, subject), f"recorded_at {recorded_at} is earlier than the entry before it ({prev_at})"))
            if payload_json != EMPTY_PAYLOAD:
                payloads[seq] = payload_json
            prev, want_seq, prev_at = entry, seq + 1, recorded_at
    report.entries = count
    if count or since is not None:
        report.head_seq, report.head_hash = want_seq - 1, prev
    else:
        findings.append(Finding(1, "audit entry 1", "missing: the chain is empty, even its genesis entry is gone"))
    return payloads


EMPTY_PAYLOAD = canon.canonical(canon.payload_of({})).decode("utf-8")


def _where(seq: int, event_type: str, subject: str) -> str:
    return f"audit entry {seq} ({event_type}, {subject})"


def _check_files(ledger: Ledger, report: Report, skip: set[str] = frozenset(), after: int = 0) -> None:  # type: ignore[assignment]
    if skip:  # a table dropped from the schema (already a finding): the files cannot all be matched
        return
    with ledger.read() as conn:
        stored = list(conn.execute(select(Artifact.content_hash, Artifact.audit_seq, Artifact.name)
                                   .where(after_clause(Artifact.__table__, after))))  # type: ignore[arg-type]
        stored += conn.execute(select(ModelVersion.artifact_hash, ModelVersion.audit_seq, ModelVersion.system)
                               .where(after_clause(ModelVersion.__table__, after))).all()  # type: ignore[arg-type]
        for content_hash, seq, name in stored:
            report.artifacts += 1
            problem = ledger.artifacts.problem(content_hash)
            if problem:
                report.findings.append(Finding(seq, f"artifact {name}", problem))
        purged = set(conn.execute(select(PurgedPayload.payload_hash)).scalars())
        report.purged_payloads = len(purged)
        counted = Counted(after)
        if after:
            _check_new_payloads(conn, after, purged, report, counted)
        else:
            _check_payload_rows(conn, _PAIRED.outerjoin(PredictionPayload, _REFERS, full=True), purged, report, counted)
        counted.check(conn, report)


ROLLUP_RECORD = "the dashboard's hourly sums (prediction_rollup)"
ROLLUP_CHANGED = "changed behind the ledger (the system page shows these figures)"
ROLLUP_FOLLOWS = "{cells} cell(s) differ from what the predictions and payloads give now, which were changed (see their findings)"


class Counted:
    """The dashboard's hourly sums (`govflow.governance.trail.rollup`), recounted in the payload pass.

    A full verify adds every chained prediction (with the payload beside it) to a fresh count and
    compares it with the whole table. ``--since`` notes the hours its new predictions fall in and
    recounts those hours whole; a cell of an hour nothing was appended to since the head is left to
    a full verify.
    """

    NAMED = 20  # differing cells named one by one; the rest are counted

    def __init__(self, after: int) -> None:
        from govflow.governance.trail import rollup

        self.rollup = rollup
        self.after = after
        self.sums = rollup.Sums()
        self.hours: set[tuple[str, datetime]] = set()
        self.readings: dict[str, Any] = {}

    def add(self, conn: Connection, system: str, served_at: datetime, version_id: str, output_json: str,
            sensitive_json: str | None) -> None:
        if self.after:
            self.hours.add((system, self.rollup.hour_of(served_at)))
            return
        reading = self.readings.get(version_id)
        if reading is None:
            reading = self.readings[version_id] = self.rollup.readings(conn, [version_id])[version_id]
        self.sums.add(system, served_at, version_id, output_json, sensitive_json, reading)

    def check(self, conn: Connection, report: Report) -> None:
        from sqlalchemy import or_

        rollup = self.rollup
        if not self.after:
            sums, have = self.sums, rollup.stored(conn)
        else:
            ranges = rollup.hour_ranges(self.hours)
            if not ranges:
                return
            sums = rollup.recount(conn, [or_(*(rollup.predictions_in(*r) for r in ranges))])
            have = rollup.stored(conn, [or_(*(rollup.cells_in(*r) for r in ranges))])
        differences = rollup.compare(sums, have)
        report.rollup_cells = len(have)
        if not differences:
            return
        if any(f.record.startswith(("prediction", "table predictions")) for f in report.findings):
            # The log the sums count was changed (named above): the sums differ because of it, or also
            # on their own; one line says so rather than one per cell.
            report.findings.append(Finding(None, ROLLUP_RECORD, ROLLUP_FOLLOWS.format(cells=len(differences))))
            return
        for difference in differences[:self.NAMED]:
            report.findings.append(Finding(None, ROLLUP_RECORD, f"{difference.describe()}: {ROLLUP_CHANGED}"))
        if len(differences) > self.NAMED:
            report.findings.append(Finding(None, ROLLUP_RECORD,
                                           f"and {len(differences) - self.NAMED} more cell(s) that differ from the predictions"))


PAYLOAD_CHANGED = "its content no longer matches its hash"
PAYLOAD_REMOVED = "its payload was removed without a purge tombstone"
PAYLOAD_RESTORED = "it was purged (its tombstone is recorded) but is present again: personal data restored behind the ledger"
PAYLOAD_ORPHAN = "no prediction refers to it: planted or left by a rewrite"


def _payload_problem(stored: Sequence[Any], purged: set[str], referred: bool = True) -> str | None:
    """What is wrong with a present payload row (`PAYLOAD_FIELDS` in order), if anything."""
    if stored[0] in purged:  # a purge deletes in the transaction that records its tombstone
        return PAYLOAD_RESTORED
    if not referred:  # every writer inserts a payload with the prediction that holds its hash
        return PAYLOAD_ORPHAN
    return None if payload_intact(*stored) else PAYLOAD_CHANGED


def _check_payload_rows(conn: Connection, pairs: Any, purged: set[str], report: Report,
                        counted: Counted | None = None) -> None:
    """Each (prediction, payload) pair of ``pairs`` (either side NULL when it has no partner), streamed;
    each prediction also ``counted`` for the dashboard's sums."""
    rows = conn.execution_options(stream_results=True, yield_per=5000).execute(pairs)
    for seq, pid, wanted, system, served_at, version_id, output_json, *stored in rows:
        if counted is not None and pid is not None:
            counted.add(conn, system, served_at, version_id, output_json, None if stored[0] in purged else stored[3])
        if stored[0] is None:
            if wanted not in purged:
                report.findings.append(Finding(seq, f"prediction {pid}", PAYLOAD_REMOVED))
        elif (problem := _payload_problem(stored, purged, pid is not None)) is not None:
            report.findings.append(Finding(None, f"prediction payload {stored[0][:16]}...", problem))


def _check_new_payloads(conn: Connection, after: int, purged: set[str], report: Report, counted: Counted) -> None:
    """The payloads of the predictions appended after entry ``after``, each found by its hash and re-hashed;
    then the payload rows created since that entry's time that no prediction refers to.

    Payload rows are not chained: ``created_at`` is the only thing that attributes one to the new
    part, and a planted row dated earlier is left to the full verify (which reads every row).
    """
    _check_payload_rows(conn, _PAIRED.outerjoin(PredictionPayload, _REFERS).where(
        after_clause(Prediction.__table__, after)), purged, report, counted)  # type: ignore[arg-type]
    since = conn.execute(select(AuditEntry.recorded_at).where(AuditEntry.seq == after)).scalar_one()
    unreferred = (select(*_PAIR_FIELDS).select_from(PredictionPayload)
                  .outerjoin(Prediction, _REFERS).where(Prediction.id.is_(None))
                  .where(PredictionPayload.created_at >= datetime.fromisoformat(since)))
    _check_payload_rows(conn, unreferred, purged, report)


PAYLOAD_FIELDS = (PredictionPayload.payload_hash, PredictionPayload.salt, PredictionPayload.features_json,
                  PredictionPayload.sensitive_json, PredictionPayload.subject_id, PredictionPayload.subject_id_sent)
_PAIR_FIELDS = (Prediction.audit_seq, Prediction.id, Prediction.payload_hash, Prediction.system, Prediction.served_at,
                Prediction.model_version_id, Prediction.output_json, *PAYLOAD_FIELDS)
_PAIRED = select(*_PAIR_FIELDS).select_from(Prediction)
_REFERS = PredictionPayload.payload_hash == Prediction.payload_hash


def payload_intact(stored_hash: str, salt: str, features_json: str, sensitive_json: str, subject_id: str | None,
                   subject_id_sent: str | None) -> bool:
    """Does a payload row still hash to the hash its chained prediction holds?

    Two forms: `payload_hash_v2_of` (every payload logged now) and the old `payload_hash_of`, which
    leaves the subject ids out (payloads logged before they were hashed). A row does not say which
    form it uses; the old one is accepted only when it reproduces the stored hash, which the chain
    fixes. An attacker cannot choose the weaker form for a new row: its hash is over a text with the
    subject ids, which no old-form text equals, so matching it would take a sha256 preimage. What the
    old form leaves open (the subject ids of payloads logged before) stays open: nothing binds them.
    """
    try:
        if payload_hash_v2_of(salt, features_json, sensitive_json, subject_id, subject_id_sent) == stored_hash:
            return True
        return payload_hash_of(salt, features_json, sensitive_json) == stored_hash
    except (ValueError, TypeError):  # a text that is no longer JSON, a column no longer text: changed too
        return False


PURGE_OF_CHANGED = ("{kind} refused: {count} prediction payload(s) it would delete no longer match their hash "
                    "(e.g. prediction payload {first}...): their data or subject ids were changed behind the ledger, "
                    "and deleting them would destroy the evidence. None of them was purged; run `govflow verify` "
                    "and investigate first")


def refuse_changed_payloads(conn: Connection, hashes: list[str], kind: str) -> None:
    """`TamperingError` when a payload about to be purged no longer matches its hash.

    Checked before the delete because a purge is where a re-attribution would vanish: once the row
    of someone else, relabelled with the subject to erase, is gone under a tombstone, verify has
    nothing left to re-hash.
    """
    from govflow.errors import TamperingError

    rows = conn.execute(select(*PAYLOAD_FIELDS).where(PredictionPayload.payload_hash.in_(hashes)))
    changed = sorted(row[0] for row in rows if not payload_intact(*row))
    if changed:
        raise TamperingError(PURGE_OF_CHANGED.format(kind=kind, count=len(changed), first=changed[0][:16]))


def payload_hash_v2_of(salt: str, features_json: str, sensitive_json: str, subject_id: str | None,
                       subject_id_sent: str | None) -> str:
    """``sha256(canonical({"features", "salt", "sensitive", "subject_id", "subject_id_sent"}))``."""
    return canon.hash_value({"salt": salt, "features": json.loads(features_json), "sensitive": json.loads(sensitive_json),
                             "subject_id": subject_id, "subject_id_sent": subject_id_sent})


def payload_hash_of(salt: str, features_json: str, sensitive_json: str) -> str:
    """The old form, ``sha256(canonical({"features", "salt", "sensitive"}))`` (see `payload_intact`)."""
    return canon.hash_value({"salt": salt, "features": json.loads(features_json), "sensitive": json.loads(sensitive_json)})


def _present(ledger: Ledger, heads: list[str]) -> set[str]:
    with ledger.read() as conn:
        return set(conn.execute(select(AuditEntry.entry_hash).where(AuditEntry.entry_hash.in_(heads))).scalars())
