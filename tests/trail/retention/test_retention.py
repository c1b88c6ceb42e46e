"""Retention and erasure: only what is due is purged, each purge under a tombstone, and verify still passes."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, func, insert, select

from govflow import canonical as canon
from govflow.errors import InputError
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import Prediction, PredictionPayload, Purge, PurgedPayload
from govflow.governance.ledger.verify import payload_hash_v2_of, verify
from govflow.governance.trail import retention

NOW = canon.utc_now()
DATA = Path(__file__).resolve().parents[3] / "data"


def log(ledger: Ledger, system: str, created_at: datetime, subjects: list[str | None]) -> list[str]:
    """Predictions with their personal-data payloads, written as the prediction log writes them:
    chained ``predictions`` rows and, in the same transaction, unchained ``prediction_payloads``."""
    hashes = []
    with ledger.write("predictions.logged", system) as w:
        payloads = []
        for i, subject in enumerate(subjects):
            salt = secrets.token_hex(16)
            features = canon.canonical({"age": 30 + i, "amount": 1000 * i}).decode()
            sensitive = canon.canonical({"sex": "female" if i % 2 else "male"}).decode()
            digest = payload_hash_v2_of(salt, features, sensitive, subject, None)
            payloads.append(dict(payload_hash=digest, salt=salt, features_json=features, sensitive_json=sensitive,
                                 subject_id=subject, created_at=created_at))
            w.add(Prediction, request_id=secrets.token_hex(8), system=system, model_version_id="mv-" + system,
                  output_json='{"decision":"good"}', latency_ms=1.5, served_at=created_at, caller="test", payload_hash=digest)
            hashes.append(digest)
        w.conn.execute(insert(PredictionPayload), payloads)
    return hashes


def present(ledger: Ledger) -> set[str]:
    with ledger.read() as conn:
        return set(conn.execute(select(PredictionPayload.payload_hash)).scalars())


def test_retention_purges_only_payloads_older_than_the_retention_period(ledger: Ledger) -> None:
    old = log(ledger, "credit-scoring", NOW - timedelta(days=200), ["a", "b", None])
    young = log(ledger, "credit-scoring", NOW - timedelta(days=100), ["a", None])
    other = log(ledger, "hiring", NOW - timedelta(days=400), ["c"])
    result = retention.apply_retention(ledger, "credit-scoring", 183, now=NOW, by="dpo")
    assert (result.kind, result.count, len(result.purge_ids)) == ("retention", 3, 1)
    assert present(ledger) == set(young) | set(other)  # younger than 183 days, or another system's: kept
    with ledger.read() as conn:
        tomb = conn.execute(select(Purge)).mappings().one()
        named = set(conn.execute(select(PurgedPayload.payload_hash).where(PurgedPayload.purge_id == tomb["id"])).scalars())
        kept_predictions = conn.execute(select(func.count()).select_from(Prediction)).scalar_one()
    assert named == set(old)
    assert (tomb["kind"], tomb["count"], tomb["by"]) == ("retention", 3, "dpo")
    assert json.loads(tomb["criteria_json"]) == {"system": "credit-scoring", "retention_days": 183,
                                                 "served_before": canon.format_ts(NOW - timedelta(days=183))}
    assert kept_predictions == 6  # the chained predictions stay, with their payload hashes
    report = verify(ledger)
    assert report.intact, report.first()
    assert report.purged_payloads == 3
    again = retention.apply_retention(ledger, "credit-scoring", 183, now=NOW)
    assert (again.count, again.purge_ids) == (0, ())


def test_a_retention_shorter_than_six_months_is_refused(sqlite_ledger: Ledger) -> None:
    log(sqlite_ledger, "credit-scoring", NOW - timedelta(days=100), ["a"])
    with pytest.raises(InputError) as raised:
        retention.apply_retention(sqlite_ledger, "credit-scoring", 90, now=NOW)
    assert str(raised.value) == ("retention of 90 days is shorter than the 183 days the EU AI Act requires (Art. 19, "
                                 "Art. 26(6)); set logging.retention_days to 183 or more")
    assert len(present(sqlite_ledger)) == 1


def test_erasure_purges_one_subjects_payloads_and_keeps_the_subject_id_out_of_the_chain(ledger: Ledger) -> None:
    mine = log(ledger, "credit-scoring", NOW - timedelta(days=3), ["subject-42", "subject-7", "subject-42"])
    result = retention.erase_subject(ledger, "subject-42", reason="GDPR Art. 17 request", request="DSR-2026-0042", by="dpo")
    assert result.count == 2
    assert present(ledger) == {mine[1]}
    with ledger.read() as conn:
        tomb = conn.execute(select(Purge)).mappings().one()
    assert (tomb["kind"], tomb["reason"], tomb["count"]) == ("erasure", "GDPR Art. 17 request", 2)
    assert "subject-42" not in tomb["criteria_json"] and "subject-42" not in tomb["reason"]
    assert json.loads(tomb["criteria_json"])["request"] == "DSR-2026-0042"
    report = verify(ledger)
    assert report.intact and report.purged_payloads == 2
    with pytest.raises(retention.NoRecordsForSubject, match="^no records for subject subject-42: "):
        retention.erase_subject(ledger, "subject-42", reason="again")


def test_a_dry_run_changes_nothing(sqlite_ledger: Ledger) -> None:
    log(sqlite_ledger, "credit-scoring", NOW - timedelta(days=300), ["a", "b"])
    head = sqlite_ledger.head()
    result = retention.apply_retention(sqlite_ledger, "credit-scoring", 183, now=NOW, dry_run=True)
    assert (result.count, result.dry_run, result.describe().startswith("retention: would purge 2 prediction payload(s)")) == (2, True, True)
    assert sqlite_ledger.head() == head and len(present(sqlite_ledger)) == 2


def test_a_large_purge_is_split_into_transactions_each_with_its_tombstone(sqlite_ledger: Ledger,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retention, "BATCH", 3)
    log(sqlite_ledger, "credit-scoring", NOW - timedelta(days=300), [None] * 7)
    result = retention.apply_retention(sqlite_ledger, "credit-scoring", 183, now=NOW)
    assert (result.count, len(result.purge_ids), len(set(result.seqs))) == (7, 3, 3)
    assert present(sqlite_ledger) == set()
    assert verify(sqlite_ledger).intact


def test_without_a_tombstone_the_database_refuses_the_delete(ledger: Ledger) -> None:
    log(ledger, "credit-scoring", NOW - timedelta(days=300), ["a"])
    with pytest.raises(Exception) as raised, ledger.engine.begin() as conn:
        conn.execute(delete(PredictionPayload))
    assert "a prediction payload may be deleted only after its tombstone is recorded" in str(raised.value)


def test_the_commands(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ledger = Ledger.open(home=home)
    log(ledger, "credit-scoring", NOW - timedelta(days=400), ["subject-1", "subject-2"])
    log(ledger, "credit-scoring", NOW - timedelta(days=1), ["subject-1"])
    ledger.close()
    govflow = [str(Path(sys.executable).parent / "govflow"), "--home", str(home)]
    applied = subprocess.run([*govflow, "retention", "apply", "-c", str(DATA / "credit-scoring.govflow.yaml")],
                             capture_output=True, text=True)
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.startswith("retention: purged 2 prediction payload(s) served before ")
    erased = subprocess.run([*govflow, "erase", "--subject", "subject-1", "--reason", "request", "--request", "T-1"],
                            capture_output=True, text=True)
    assert erased.returncode == 0 and erased.stdout.startswith("erasure: purged 1 prediction payload(s); tombstone(s) ")
    listed = subprocess.run([*govflow, "retention", "list"], capture_output=True, text=True)
    assert [line.split()[1:3] for line in listed.stdout.splitlines()] == [["retention", "2"], ["erasure", "1"]]
    verified = subprocess.run([*govflow, "verify"], capture_output=True, text=True)
    assert verified.returncode == 0, verified.stderr
    assert "3 prediction payload(s) purged under tombstones" in verified.stdout


def test_erasing_a_subject_the_ledger_does_not_hold_says_so_and_exits_2(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ledger = Ledger.open(home=home)
    log(ledger, "credit-scoring", NOW - timedelta(days=1), ["10", "subject-2"])  # "10": an id column's value
    with pytest.raises(retention.NoRecordsForSubject) as raised:
        retention.erase_subject(ledger, "person-10", reason="request", dry_run=True)
    assert str(raised.value) == retention.NO_RECORDS.format(subject="person-10")
    assert retention.erase_subject(ledger, "10", reason="request").count == 1
    ledger.close()
    govflow = [str(Path(sys.executable).parent / "govflow"), "--home", str(home)]
    erased = subprocess.run([*govflow, "erase", "--subject", "person-10"], capture_output=True, text=True)
    assert erased.returncode == 2
    assert erased.stderr.startswith("error: no records for subject person-10: no stored prediction payload carries it")
    assert "data.id_column" in erased.stderr


def served_with_both_ids(ledger: Ledger, count: int) -> list[str]:
    """Records that carry the id column (``applicant_id``) AND a subject_id, logged as serving logs them."""
    from govflow.governance.trail import predictions as preds

    schema = preds.InputSchema.build(
        version="credit-scoring:1", contract={"columns": {"amount": {"type": "integer", "min": 0, "max": 10**6}}},
        columns=[("amount", "int64")], feature_names=["amount"], sensitive_names=[], needs_sensitive=False,
        id_column="applicant_id", out_of_domain="flag")
    given = [{"amount": i, "applicant_id": i, "subject_id": f"person-{i}"} for i in range(count)]
    given.append({"amount": 1, "subject_id": "person-only"})  # no id column: its subject_id is the subject
    valid = schema.validate(given, limit=count + 1)
    assert [(v.subject_id, v.subject_id_sent) for v in valid[:2]] == [("0", "person-0"), ("1", "person-1")]
    assert (valid[-1].subject_id, valid[-1].subject_id_sent) == ("person-only", None)
    records = [preds.make_record(request_id="req", system="credit-scoring", model_version_id="mv-credit-scoring",
                                 output={"decision": "good"}, valid=v, latency_ms=1.0, served_at=NOW, caller="test")
               for v in valid]
    preds.write_predictions(ledger, records, require_production=False)
    return [r.payload_hash for r in records]


@pytest.mark.parametrize("count", [3, 250])  # PostgreSQL writes a few payloads in one INSERT, many by COPY
def test_erasure_finds_a_subject_by_the_id_column_or_the_subject_id_sent(ledger: Ledger, count: int) -> None:
    hashes = served_with_both_ids(ledger, count)
    assert retention.erase_subject(ledger, "person-1", reason="DSR-1").count == 1  # the subject_id sent
    assert retention.erase_subject(ledger, "2", reason="DSR-2").count == 1  # the id column's value
    assert retention.erase_subject(ledger, "person-only", reason="DSR-3").count == 1
    assert present(ledger) == set(hashes) - {hashes[1], hashes[2], hashes[-1]}
    for gone in ("person-1", "1", "person-2"):
        with pytest.raises(retention.NoRecordsForSubject, match=f"^no records for subject {gone}: "):
            retention.erase_subject(ledger, gone, reason="again")
    report = verify(ledger)
    assert report.intact and report.purged_payloads == 3
