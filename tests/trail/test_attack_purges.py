"""Attacks on the purges: a purge must not become the way to destroy evidence of a re-attribution.

An insider relabels another person's payload with the subject an erasure request names: the erasure
would delete it under a genuine tombstone, and `govflow verify` would have nothing left to re-hash.
Or they backdate a payload's ``created_at`` (not chained) so that a routine retention run purges it
early, or postdate it to keep personal data past retention. Each purge re-hashes what it is about to
delete, and retention decides by the chained ``served_at``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from govflow import canonical as canon
from govflow.errors import TamperingError
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import PredictionPayload, Purge
from govflow.governance.ledger.verify import verify
from govflow.governance.trail import predictions as preds
from govflow.governance.trail import retention
from tests.ledger.dba import tamper


def log(ledger: Ledger, subjects: list[str], days_ago: int = 0) -> list[preds.PredictionRecord]:
    served = canon.utc_now() - timedelta(days=days_ago)
    batch = [preds.PredictionRecord(request_id=f"req-{i}", system="credit", model_version_id="mv-1", output=1,
                                    features={"age": 30 + i}, sensitive={"sex": "f"}, latency_ms=1.0,
                                    served_at=served, caller="tester", subject_id=subject)
             for i, subject in enumerate(subjects)]
    preds.write_predictions(ledger, batch, require_production=False)
    if days_ago:  # as the payload rows of predictions served that long ago were created
        tamper(ledger, "UPDATE prediction_payloads SET created_at = :at WHERE payload_hash IN ("
               + ", ".join(f"'{r.payload_hash}'" for r in batch) + ")", at=served)
    return batch


def payloads(ledger: Ledger) -> int:
    with ledger.read() as conn:
        return int(conn.execute(select(func.count()).select_from(PredictionPayload)).scalar_one())


def test_an_erasure_refuses_to_delete_a_relabelled_payload(ledger: Ledger) -> None:
    alice, bob = log(ledger, ["alice", "bob"])
    tamper(ledger, "UPDATE prediction_payloads SET subject_id = 'alice' WHERE payload_hash = :h", h=bob.payload_hash)
    with pytest.raises(TamperingError) as caught:
        retention.erase_subject(ledger, "alice", reason="DSR-1")
    assert str(caught.value) == (
        f"erasure refused: 1 prediction payload(s) it would delete no longer match their hash (e.g. prediction "
        f"payload {bob.payload_hash[:16]}...): their data or subject ids were changed behind the ledger, and deleting "
        "them would destroy the evidence. None of them was purged; run `govflow verify` and investigate first")
    assert payloads(ledger) == 2  # alice's untouched payload was not purged either
    with ledger.read() as conn:
        assert conn.execute(select(func.count()).select_from(Purge)).scalar_one() == 0
    assert [f.record for f in verify(ledger).findings] == [f"prediction payload {bob.payload_hash[:16]}..."]
    assert alice.payload_hash != bob.payload_hash


def test_a_retention_run_refuses_to_delete_a_changed_payload(ledger: Ledger) -> None:
    old = log(ledger, ["alice", "bob"], days_ago=400)
    tamper(ledger, "UPDATE prediction_payloads SET subject_id_sent = 'carol' WHERE payload_hash = :h",
           h=old[0].payload_hash)
    with pytest.raises(TamperingError, match=r"^retention refused: 1 prediction payload\(s\) it would delete no "
                                             rf"longer match their hash \(e\.g\. prediction payload {old[0].payload_hash[:16]}"):
        retention.apply_retention(ledger, "credit", 183)
    assert payloads(ledger) == 2


@pytest.mark.parametrize("shift", [-400, 400])
def test_retention_follows_the_chained_served_at_not_the_payloads_created_at(ledger: Ledger, shift: int) -> None:
    """Backdated: not purged early; postdated: purged all the same (data kept past retention is a breach too)."""
    young, old = log(ledger, ["alice"], days_ago=10), log(ledger, ["bob"], days_ago=300)
    moved = young if shift < 0 else old
    tamper(ledger, "UPDATE prediction_payloads SET created_at = :at WHERE payload_hash = :h",
           at=canon.utc_now() + timedelta(days=shift), h=moved[0].payload_hash)
    result = retention.apply_retention(ledger, "credit", 183)
    assert result.count == 1
    with ledger.read() as conn:
        left = set(conn.execute(select(PredictionPayload.payload_hash)).scalars())
    assert left == {young[0].payload_hash}
    assert verify(ledger).intact  # created_at is operational: the hash does not cover it, nothing reads it now


def test_an_erased_payload_put_back_is_caught(ledger: Ledger) -> None:
    """The insider kept a copy of an erased payload and inserts it again: verify and verify --since say so."""
    log(ledger, ["zoe"])
    head = verify(ledger)
    alice, _ = log(ledger, ["alice", "bob"])
    with ledger.read() as conn:
        row = dict(conn.execute(select(PredictionPayload).where(PredictionPayload.payload_hash == alice.payload_hash))
                   .mappings().one())
    retention.erase_subject(ledger, "alice", reason="DSR-1")
    assert verify(ledger).intact
    tamper(ledger, "INSERT INTO prediction_payloads (" + ", ".join(row) + ") VALUES ("
           + ", ".join(f":{k}" for k in row) + ")", **row)
    for report in (verify(ledger), verify(ledger, since=head.head_hash)):
        assert [str(f) for f in report.findings] == [
            f"outside the chain: prediction payload {alice.payload_hash[:16]}...: it was purged (its tombstone is "
            "recorded) but is present again: personal data restored behind the ledger"]
