"""The ledger side of the prediction log: input schema, redaction, group commit, tokens, trace."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from govflow import canonical as canon
from govflow.errors import InputError
from govflow.flows.serving import load_production
from govflow.governance.access import tokens
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import (
    ApiToken,
    AuditEntry,
    Prediction,
    PredictionPayload,
    Purge,
    PurgedPayload,
)
from govflow.governance.ledger.verify import payload_hash_v2_of, verify
from govflow.governance.registry.versions import VersionRef
from govflow.governance.trail import predictions as preds
from govflow.governance.trail.records import payload_hash_v2
from govflow.governance.trail.trace import render, trace_prediction
from tests.web.serving.helpers import counts, put_in_production, records, relaxed_config, suspend


def logged(ledger: Ledger, ref: VersionRef, batch: list[dict], request_id: str = "req-1") -> list[preds.PredictionRecord]:
    served = load_production(ledger, ref.system)
    valid = served.schema.validate(batch)
    outputs = served.predict(valid)
    return [preds.make_record(request_id=request_id, system=ref.system, model_version_id=ref.id, output=out, valid=v,
                              latency_ms=1.5, served_at=canon.utc_now(), caller="tester", redaction=served.redaction)
            for v, out in zip(valid, outputs)]


def test_a_batch_is_one_transaction_with_one_audit_entry_and_verifies(served: tuple[Ledger, VersionRef]) -> None:
    ledger, ref = served
    before = counts(ledger)
    batch = logged(ledger, ref, records(50))
    receipt = preds.write_predictions(ledger, batch)
    assert receipt.written == 50 and not receipt.refused
    assert counts(ledger) == (before[0] + 50, before[1] + 50, before[2] + 1)
    with ledger.read() as conn:
        entry = conn.execute(select(AuditEntry).where(AuditEntry.seq == receipt.seq)).mappings().one()
        payloads = conn.execute(select(PredictionPayload)).mappings().all()
    assert entry["event_type"] == "predictions.logged" and entry["subject"] == "credit-scoring: 50"
    assert json.loads(entry["payload_json"])["tables"]["predictions"]["rows"] == 50
    for p in payloads:  # the hand-built payload hash is the one verify recomputes
        assert payload_hash_v2_of(p["salt"], p["features_json"], p["sensitive_json"], p["subject_id"],
                                  p["subject_id_sent"]) == p["payload_hash"]
    assert len({p["salt"] for p in payloads}) == 50
    assert verify(ledger).intact


def test_output_may_be_any_json_value(sqlite_served: tuple[Ledger, VersionRef]) -> None:
    ledger, ref = sqlite_served
    valid = preds.ValidRecord({"user": 7}, {"gender": "F", "age": 31}, "user-7")
    record = preds.make_record(request_id="r", system=ref.system, model_version_id=ref.id, output=[50, 181, 9],
                               valid=valid, latency_ms=0.3, served_at=canon.utc_now(), caller="recommender")
    preds.write_predictions(ledger, [record])
    with ledger.read() as conn:
        assert trace_prediction(conn, record.id)["prediction"]["output"] == [50, 181, 9]
        assert trace_prediction(conn, record.id)["prediction"]["input"]["subject_id"] == "user-7"


def test_records_of_a_version_no_longer_in_production_are_refused_whole(served: tuple[Ledger, VersionRef]) -> None:
    ledger, ref = served
    batch = logged(ledger, ref, records(3))
    suspend(ledger, ref)
    before = counts(ledger)
    receipt = preds.write_predictions(ledger, batch, versions={ref.id: str(ref)})
    assert receipt.written == 0 and receipt.seq is None
    assert set(receipt.refused.values()) == {"credit-scoring:1 is no longer in production (now suspended); nothing was served: retry"}
    assert counts(ledger) == before


@pytest.mark.parametrize("size", [4, preds.COPY_PAYLOADS + 10])  # PostgreSQL: pipelined, then COPY
def test_a_mixed_batch_keeps_the_production_records_and_only_their_payloads(served: tuple[Ledger, VersionRef],
                                                                           size: int) -> None:
    ledger, ref = served
    good = logged(ledger, ref, records(size))
    good[1] = preds.PredictionRecord(request_id="req-3", system=ref.system, model_version_id=ref.id, output=good[1].output,
                                     features=good[1].features, sensitive=good[1].sensitive, latency_ms=1.0,
                                     served_at=good[1].served_at, caller="tester", subject_id="person-9")
    stray = [preds.PredictionRecord(request_id="req-2", system=ref.system, model_version_id="mv-retired-elsewhere",
                                    output=r.output, features=r.features, sensitive=r.sensitive, latency_ms=1.0,
                                    served_at=r.served_at, caller="tester") for r in good[:3]]
    before = counts(ledger)
    receipt = preds.write_predictions(ledger, [*stray[:2], *good, stray[2]], versions={"mv-retired-elsewhere": "x:9"})
    assert receipt.written == size and receipt.seq is not None
    assert receipt.refused == {r.id: "x:9 is no longer in production (now unknown); nothing was served: retry" for r in stray}
    assert counts(ledger) == (before[0] + size, before[1] + size, before[2] + 1)
    with ledger.read() as conn:
        stored = set(conn.execute(select(PredictionPayload.payload_hash)).scalars())
        subject = conn.execute(select(PredictionPayload.subject_id)
                               .where(PredictionPayload.payload_hash == good[1].payload_hash)).scalar_one()
    assert {r.payload_hash for r in good} <= stored and not {r.payload_hash for r in stray} & stored
    assert subject == "person-9"
    assert verify(ledger).intact


def test_redacted_fields_are_stored_as_keyed_hashes(sqlite_ledger: Ledger) -> None:
    config = relaxed_config(redact=["telephone", "personal_status_and_sex"])
    ref = put_in_production(sqlite_ledger, config)
    batch = logged(sqlite_ledger, ref, records(2))
    preds.write_predictions(sqlite_ledger, batch)
    key_file = sqlite_ledger.home / "secrets" / "redaction-credit-scoring.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    with sqlite_ledger.read() as conn:
        rows = conn.execute(select(PredictionPayload.features_json, PredictionPayload.sensitive_json)).all()
    features, sensitive = json.loads(rows[0][0]), json.loads(rows[0][1])
    assert features["telephone"].startswith("hmac-sha256:") and len(features["telephone"]) == 12 + 64
    assert sensitive["personal_status_and_sex"].startswith("hmac-sha256:")
    assert sensitive["age_in_years"] == 67 and features["housing"] == "own"  # the rest as given
    text = " ".join(r[0] + r[1] for r in rows)
    assert "registered under the customers name" not in text and "male : divorced" not in text
    again = preds.redaction_for(sqlite_ledger.home, "credit-scoring", ["telephone"])
    assert again.digest("yes, registered under the customers name") == features["telephone"]
    assert preds.redaction_for(sqlite_ledger.home, "other", ["telephone"]).digest("none") != again.digest("none")


# -- input schema ------------------------------------------------------------------------------------

def one(**changes: object) -> dict:
    record = records(1)[0]
    for key, value in changes.items():
        if value is ...:
            record.pop(key, None)
        else:
            record[key] = value
    return record


@pytest.mark.parametrize(("record", "message"), [
    (one(duration_in_month="12"), 'duration_in_month: expected an integer, got string "12"'),
    (one(duration_in_month=True), "duration_in_month: expected an integer, got boolean true"),
    (one(duration_in_month=None), "duration_in_month: must not be null (the model was trained without missing values here)"),
    (one(duration_in_month=500), "duration_in_month: 500 is outside the range the model was trained on [0, 79]"),
    (one(housing="castle"), 'housing: "castle" is not one of the values the model was trained on ("for free", "own", "rent")'),
    (one(housing=...), "housing: required feature is missing"),
    (one(colour="red"), "colour: unknown field; the features of credit-scoring:1 are: credit_amount, credit_history, "
                        "duration_in_month, foreign_worker, housing, installment_rate_in_percentage_of_disposable_income, "
                        "job, number_of_existing_credits_at_this_bank, "
                        "number_of_people_being_liable_to_provide_maintenance_for, other_debtors_or_guarantors, "
                        "other_installment_plans, present_employment_since, present_residence_since, property, purpose, "
                        "savings_account_and_bonds, status_of_existing_checking_account, telephone"),
    (one(age_in_years=30), 'age_in_years: a sensitive attribute: send it in the record\'s "sensitive" object, apart '
                           "from the features the model sees"),
    (one(sensitive={"religion": "x"}), "sensitive.religion: not a sensitive attribute of credit-scoring:1 (those are: "
                                       "personal_status_and_sex, age_in_years)"),
    (one(sensitive=[1]), "sensitive: expected a JSON object of sensitive attributes, got array"),
    (one(sensitive={"age_in_years": "old"}), 'sensitive.age_in_years: expected an integer, got string "old"'),
    (one(subject_id={"a": 1}), "subject_id: expected a string of at most 200 characters"),
])
def test_a_record_that_does_not_fit_names_the_field(sqlite_served: tuple[Ledger, VersionRef], record: dict,
                                                    message: str) -> None:
    schema = replace(load_production(sqlite_served[0], "credit-scoring").schema, out_of_domain="reject")
    with pytest.raises(preds.RecordError) as caught:
        schema.validate([record], batch=False)
    assert [m for _, m, _ in caught.value.errors] == [message]


def test_batch_errors_say_which_record(sqlite_served: tuple[Ledger, VersionRef]) -> None:
    schema = replace(load_production(sqlite_served[0], "credit-scoring").schema, out_of_domain="reject")
    batch = [records(1)[0], one(credit_amount=-5), "hello"]
    with pytest.raises(preds.RecordError) as caught:
        schema.validate(batch)
    assert [(loc, m) for loc, m, _ in caught.value.errors] == [
        (("body", "records", 1, "credit_amount"),
         "records[1].credit_amount: -5 is outside the range the model was trained on [0, 20242]"),
        (("body", "records", 2), "records[2]: expected a JSON object of feature values, got string")]


def test_a_model_that_needs_the_sensitive_attributes_requires_them(sqlite_ledger: Ledger) -> None:
    put_in_production(sqlite_ledger, relaxed_config(mitigation="threshold_optimizer"))
    served = load_production(sqlite_ledger, "credit-scoring")
    assert served.schema.needs_sensitive
    with pytest.raises(preds.RecordError) as caught:
        served.schema.validate([one(sensitive=...)], batch=False)
    assert str(caught.value) == ("sensitive: required: credit-scoring:1 needs the sensitive attributes "
                                 "personal_status_and_sex, age_in_years at prediction time")
    outputs = served.predict(served.schema.validate(records(5)))
    assert [set(o) for o in outputs] == [{"decision", "favourable", "score", "score_of", "randomised"}] * 5


# -- tokens ------------------------------------------------------------------------------------------

def test_a_token_is_stored_only_as_its_hash(sqlite_ledger: Ledger) -> None:
    secret, info = tokens.create_token(sqlite_ledger, role="auditor", label=None, created_by="ana")
    assert secret.startswith("gft_") and len(secret) > 40 and info.label == "auditor-1"
    with sqlite_ledger.read() as conn:
        rows = conn.execute(select(ApiToken)).mappings().all()
        assert tokens.verify_token(conn, secret) == info
        assert tokens.verify_token(conn, secret + "x") is None
    assert rows[0]["token_hash"] == tokens.hash_secret(secret)
    db = Path(sqlite_ledger.url.removeprefix("sqlite:///"))
    assert secret.encode() not in db.read_bytes() + (db.with_name("ledger.db-wal").read_bytes() if db.with_name("ledger.db-wal").exists() else b"")


@pytest.mark.parametrize(("role", "label", "message"), [
    ("admin", None, "unknown role 'admin'; choose auditor (read the audit endpoints) or operator (serve predictions)"),
    ("operator", "bad label!", "label 'bad label!': use 1 to 100 letters, digits, '.', '_', '-' or '@'"),
    ("operator", "auditor-1", "a token labelled 'auditor-1' already exists; choose another --label (it names the caller in the log)"),
])
def test_bad_token_requests_are_refused(sqlite_ledger: Ledger, role: str, label: str | None, message: str) -> None:
    tokens.create_token(sqlite_ledger, role="auditor", label=None, created_by="ana")
    with pytest.raises(InputError) as caught:
        tokens.create_token(sqlite_ledger, role=role, label=label, created_by="ana")
    assert str(caught.value) == message


# -- trace -------------------------------------------------------------------------------------------

def test_trace_by_prediction_id_or_single_request_id(served: tuple[Ledger, VersionRef]) -> None:
    ledger, ref = served
    single = logged(ledger, ref, records(1), request_id="single-1")
    batch = logged(ledger, ref, records(3), request_id="batch-1")
    preds.write_predictions(ledger, single + batch)
    with ledger.read() as conn:
        by_id = trace_prediction(conn, single[0].id)
        assert trace_prediction(conn, "single-1") == by_id
        with pytest.raises(InputError) as several:
            trace_prediction(conn, "batch-1")
        with pytest.raises(InputError) as unknown:
            trace_prediction(conn, "nope")
    assert str(several.value) == ("request id 'batch-1' names 3 predictions (a batch request); trace one by its "
                                  f"prediction id: {batch[0].id}, {batch[1].id}, {batch[2].id}")
    assert str(unknown.value) == "no prediction has the id or request id 'nope'"
    assert by_id["model_version"]["ref"] == "credit-scoring:1"
    assert by_id["model_version"]["in_production_when_served"] is True
    assert by_id["gate_decision"]["outcome"] == "pass"
    assert sorted(a["role"] for a in by_id["approvals"]) == ["model_owner", "risk_officer"]
    assert by_id["prediction"]["input"]["sensitive"] == {"age_in_years": 67, "personal_status_and_sex": "male : divorced/separated"}
    assert by_id["prediction"]["caller"] == "tester"
    assert by_id["prediction"]["decision"] == by_id["prediction"]["output"]  # the current shape, as logged
    said = "favourable" if single[0].output["favourable"] else "unfavourable"
    assert f"served decision: {single[0].output['decision']} ({said})" in render(by_id)
    text = render(by_id)
    assert text.startswith(f"prediction {single[0].id} · credit-scoring · ")
    assert "└─ model credit-scoring:1 · production when served, production now" in text


def test_trace_shows_a_purged_payload(sqlite_served: tuple[Ledger, VersionRef]) -> None:
    ledger, ref = sqlite_served
    record = logged(ledger, ref, records(1))[0]
    preds.write_predictions(ledger, [record])
    with ledger.read() as conn:
        payload_hash = conn.execute(select(Prediction.payload_hash).where(Prediction.id == record.id)).scalar_one()
    with ledger.write("payloads.purged", "erasure") as w:
        purge = w.add(Purge, kind="erasure", at=canon.utc_now(), by="dpo", reason="erasure request 12",
                      criteria_json="{}", count=1)
        w.add(PurgedPayload, purge_id=purge["id"], payload_hash=payload_hash)
    with ledger.engine.begin() as conn:  # the tombstone first, then the payload may go
        conn.execute(delete(PredictionPayload).where(PredictionPayload.payload_hash == payload_hash))
    with ledger.read() as conn:
        given = trace_prediction(conn, record.id)["prediction"]["input"]
    assert given["payload_hash"] == payload_hash
    assert given["purged"]["kind"] == "erasure" and given["purged"]["reason"] == "erasure request 12"
    assert verify(ledger).intact


def test_the_fast_canonical_text_is_byte_for_byte_the_canonical_form() -> None:
    import math
    import random
    import struct

    rng = random.Random(7)

    def value(depth: int = 0) -> object:
        pick = rng.randrange(9 if depth < 3 else 6)
        if pick == 0:
            return rng.choice([None, True, False, 0, -1, 2**63 - 1, -(2**63), 2**70])
        if pick == 1:
            return "".join(chr(rng.choice([rng.randrange(0x20, 0x7f), rng.randrange(0, 0x20), rng.randrange(0xa0, 0xd7ff),
                                           rng.randrange(0xe000, 0x10ffff)])) for _ in range(rng.randrange(6)))
        if pick in (2, 3):
            return rng.choice([rng.random(), rng.uniform(-1e6, 1e6), 10 ** rng.uniform(-12, 20), 0.0, -0.0, 1e-4, 1e16])
        if pick == 4:
            bits = struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]
            return bits if math.isfinite(bits) else 1.5
        if pick == 5:
            return rng.randrange(-10**6, 10**6)
        if pick in (6, 7):
            return {str(value(depth + 1)): value(depth + 1) for _ in range(rng.randrange(4))}
        return [value(depth + 1) for _ in range(rng.randrange(4))]

    for _ in range(20000):
        v = value()
        assert preds.canonical_text(v) == canon.canonical(v).decode("utf-8"), v


def test_a_record_is_immutable_and_carries_its_documented_hashes() -> None:
    features, sensitive, output = {"age": 41, "purpose": "car (new)"}, {"sex": "f"}, {"decision": 1, "score": 0.25}
    record = preds.PredictionRecord(request_id="req-1", system="s", model_version_id="mv", output=output,
                                    features=features, sensitive=sensitive, latency_ms=1.5,
                                    served_at=canon.utc_now(), caller="tester")
    assert record.features_json == canon.canonical(features).decode() and record.output_json == '{"decision":1,"score":0.25}'
    assert record.payload_hash == payload_hash_v2_of(record.salt, record.features_json, record.sensitive_json, None, None)
    assert record.payload_hash == payload_hash_v2(record.salt, record.features_json, record.sensitive_json, None, None)
    assert len(record.id) == 36 and record.subject_id is None
    with pytest.raises(AttributeError):
        record.caller = "someone else"  # type: ignore[misc]


def test_salts_are_random_hex_and_a_forked_child_draws_its_own() -> None:
    drawn = [preds.new_salt() for _ in range(1000)]  # several refills of the buffer
    assert len(set(drawn)) == 1000 and all(len(s) == 32 and int(s, 16) >= 0 for s in drawn)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's unused random bytes must not be reused
        os.write(write, preds.new_salt().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.waitpid(pid, 0)
    os.close(read)
    assert len(child) == 32 and child != preds.new_salt()
