"""Attack: an insider plants payload rows that no prediction refers to.

``prediction_payloads`` is not chained and takes INSERTs. A planted row hashes right (its hash is its
own), so a re-hash alone passes it: verify must see that no chained prediction refers to it, and an
erasure must not count or purge it (the insider would make an erasure report more records for a
person than were logged, or hide a real payload's disappearance among planted ones).
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select

from govflow import canonical as canon
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import PredictionPayload, PurgedPayload
from govflow.governance.ledger.verify import payload_hash_v2_of, verify
from govflow.governance.trail import predictions as preds
from govflow.governance.trail import retention
from tests.ledger.helpers import db_url, govflow

ORPHAN = "no prediction refers to it: planted or left by a rewrite"


def log(ledger: Ledger, subjects: list[str], days_ago: int = 0) -> list[preds.PredictionRecord]:
    served = canon.utc_now() - timedelta(days=days_ago)
    batch = [preds.PredictionRecord(request_id=f"req-{i}", system="credit", model_version_id="mv-1", output=1,
                                    features={"age": 30 + i}, sensitive={"sex": "f"}, latency_ms=1.0,
                                    served_at=served, caller="tester", subject_id=subject)
             for i, subject in enumerate(subjects)]
    preds.write_predictions(ledger, batch, require_production=False)
    return batch


def plant(ledger: Ledger, subject: str, created_days_ago: int = 0) -> str:
    """A self-consistent payload row (the current hash form) straight into the table, no prediction."""
    salt, features, sensitive = secrets.token_hex(16), '{"age":52}', '{"sex":"m"}'
    digest = payload_hash_v2_of(salt, features, sensitive, subject, None)
    with ledger.engine.begin() as conn:
        conn.execute(insert(PredictionPayload), dict(
            payload_hash=digest, salt=salt, features_json=features, sensitive_json=sensitive, subject_id=subject,
            subject_id_sent=None, created_at=canon.utc_now() - timedelta(days=created_days_ago)))
    return digest


def orphans(findings: list) -> list[str]:  # type: ignore[type-arg]
    return sorted(str(f) for f in findings)


def expected(*hashes: str) -> list[str]:
    return sorted(f"outside the chain: prediction payload {h[:16]}...: {ORPHAN}" for h in hashes)


def test_verify_names_each_planted_payload(ledger: Ledger) -> None:
    log(ledger, ["zoe"])
    head = verify(ledger)
    log(ledger, ["alice", "bob"])
    planted = [plant(ledger, "alice"), plant(ledger, "alice")]
    assert orphans(verify(ledger).findings) == expected(*planted)
    assert orphans(verify(ledger, since=head.head_hash).findings) == expected(*planted)


def test_a_planted_payload_dated_before_the_head_is_left_to_the_full_verify(ledger: Ledger) -> None:
    """--since attributes payload rows by their (unchained) created_at: a backdated one is the full pass's."""
    log(ledger, ["zoe"])
    head = verify(ledger)
    planted = plant(ledger, "alice", created_days_ago=3)
    assert orphans(verify(ledger).findings) == expected(planted)
    assert verify(ledger, since=head.head_hash).intact


def test_the_command_exits_1_naming_the_planted_payload(ledger: Ledger) -> None:
    log(ledger, ["alice"])
    planted = plant(ledger, "alice")
    result = govflow("verify", home=ledger.home, db=None if ledger.is_sqlite else db_url(ledger))
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert (f"first broken: outside the chain: prediction payload {planted[:16]}...: {ORPHAN}"
            in result.stderr.splitlines()[0]), result.stderr


def purged_hashes(ledger: Ledger) -> set[str]:
    with ledger.read() as conn:
        return set(conn.execute(select(PurgedPayload.payload_hash)).scalars())


def payload_count(ledger: Ledger) -> int:
    with ledger.read() as conn:
        return int(conn.execute(select(func.count()).select_from(PredictionPayload)).scalar_one())


def test_an_erasure_counts_and_purges_only_payloads_a_prediction_refers_to(ledger: Ledger) -> None:
    alice, _ = log(ledger, ["alice", "bob"])
    planted = [plant(ledger, "alice") for _ in range(3)]
    assert retention.erase_subject(ledger, "alice", reason="DSR-1", dry_run=True).count == 1
    result = retention.erase_subject(ledger, "alice", reason="DSR-1")
    assert result.count == 1
    assert purged_hashes(ledger) == {alice.payload_hash}
    assert payload_count(ledger) == 1 + len(planted)  # bob's, and the planted rows verify names
    assert orphans(verify(ledger).findings) == expected(*planted)


def test_an_erasure_of_a_subject_with_only_planted_payloads_finds_no_records(ledger: Ledger) -> None:
    log(ledger, ["bob"])
    plant(ledger, "mallory")
    with pytest.raises(retention.NoRecordsForSubject) as caught:
        retention.erase_subject(ledger, "mallory", reason="DSR-2")
    assert str(caught.value).startswith("no records for subject mallory: no stored prediction payload carries it")
    assert purged_hashes(ledger) == set()


def test_retention_counts_and_purges_only_payloads_a_prediction_refers_to(ledger: Ledger) -> None:
    old = log(ledger, ["alice", "bob"], days_ago=400)
    planted = plant(ledger, "carol", created_days_ago=400)
    result = retention.apply_retention(ledger, "credit", 365)
    assert result.count == 2
    assert purged_hashes(ledger) == {r.payload_hash for r in old}
    assert orphans(verify(ledger).findings) == expected(planted)
