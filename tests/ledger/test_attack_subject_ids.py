"""Attack: an insider re-attributes a logged decision by editing a payload's subject ids.

``prediction_payloads`` is not chained; its row is bound to the chained prediction by its payload
hash alone. An insider with DBA rights (past the no-update trigger, `tests.ledger.dba.tamper`) edits
``subject_id`` or ``subject_id_sent``: an erasure would then miss the person (or erase another),
outcomes and searches would find the wrong decisions. The payload hash covers both ids, so
`govflow verify` (full, and ``--since`` a head before the payload) exits 1 naming the payload.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from sqlalchemy import insert, select

from govflow import canonical as canon
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import Prediction, PredictionPayload
from govflow.governance.ledger.verify import Report, payload_hash_of, payload_hash_v2_of, verify
from govflow.governance.trail import predictions as preds
from govflow.governance.trail import records
from tests.ledger.dba import tamper
from tests.ledger.helpers import db_url, govflow


def log(ledger: Ledger, subjects: list[tuple[str | None, str | None]]) -> list[preds.PredictionRecord]:
    """One batch through the real prediction log, a record per ``(subject_id, subject_id_sent)``."""
    batch = [preds.PredictionRecord(request_id=f"req-{i}", system="credit", model_version_id="mv-1",
                                    output={"decision": i % 2}, features={"age": 30 + i, "purpose": "car"},
                                    sensitive={"sex": "f"}, latency_ms=1.0, served_at=canon.utc_now(),
                                    caller="tester", subject_id=subject, subject_id_sent=sent)
             for i, (subject, sent) in enumerate(subjects)]
    preds.write_predictions(ledger, batch, require_production=False)
    return batch


PEOPLE = [("alice", None), ("bob", "b-77"), (None, None)]  # A: one id, B: both, C: none


def _set(column: str, value: str | None, who: int) -> list[tuple[str, str | None, int]]:
    return [(column, value, who)]


ATTACKS: dict[str, list[tuple[str, str | None, int]]] = {  # (column, new value, which person)
    "change subject_id": _set("subject_id", "mallory", 0),
    "change subject_id_sent": _set("subject_id_sent", "b-78", 1),
    "set subject_id where it was NULL": _set("subject_id", "carol", 2),
    "set subject_id_sent where it was NULL": _set("subject_id_sent", "alice", 0),
    "clear subject_id": _set("subject_id", None, 0),
    "clear subject_id_sent": _set("subject_id_sent", None, 1),
    "swap the subject ids of two payloads": [("subject_id", "bob", 0), ("subject_id", "alice", 1)],
    "swap subject_id and subject_id_sent": [("subject_id", "b-77", 1), ("subject_id_sent", "bob", 1)],
}


def attack(ledger: Ledger, batch: list[preds.PredictionRecord], edits: list[tuple[str, str | None, int]]) -> set[str]:
    for column, value, who in edits:
        tamper(ledger, f"UPDATE prediction_payloads SET {column} = :v WHERE payload_hash = :h", v=value,
               h=batch[who].payload_hash)
    return {batch[who].payload_hash for _, _, who in edits}


def cli_verify(ledger: Ledger, *args: str) -> Any:
    return govflow("verify", *args, home=ledger.home, db=None if ledger.is_sqlite else db_url(ledger))


def changed_payloads(report: Report) -> list[str]:
    return [f.record for f in report.ordered() if f.problem == "its content no longer matches its hash"]


def logged_after_a_head(ledger: Ledger) -> tuple[Report, list[preds.PredictionRecord]]:
    log(ledger, [("zoe", None)])
    head = verify(ledger)
    assert head.intact, head.findings
    batch = log(ledger, PEOPLE)
    assert verify(ledger).intact
    return head, batch


@pytest.mark.parametrize("name", list(ATTACKS))
def test_an_edited_subject_id_fails_verify_naming_the_payload(ledger: Ledger, name: str) -> None:
    head, batch = logged_after_a_head(ledger)
    changed = attack(ledger, batch, ATTACKS[name])
    for report in (verify(ledger), verify(ledger, since=head.head_hash)):
        assert len(report.findings) == len(changed), report.findings
        assert sorted(changed_payloads(report)) == sorted(f"prediction payload {h[:16]}..." for h in changed)


def test_the_command_exits_1_naming_each_payload_whose_ids_were_swapped(ledger: Ledger) -> None:
    head, batch = logged_after_a_head(ledger)
    changed = attack(ledger, batch, ATTACKS["swap the subject ids of two payloads"])
    for args in ((), ("--since", f"{head.head_seq}:{head.head_hash}")):
        result = cli_verify(ledger, *args)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        lines = result.stderr.splitlines()
        assert lines[0].startswith("TAMPERING FOUND: 2 finding(s); first broken: "), lines
        shown = {line.split("first broken: ")[-1].strip() for line in lines[:2]}
        assert shown == {f"outside the chain: prediction payload {h[:16]}...: its content no longer matches its hash"
                         for h in changed}, args


def test_the_payload_hash_covers_the_subject_ids_as_verify_recomputes_it() -> None:
    """The hand-built hash of the hot path equals verify's independent one, on awkward values."""
    awkward = [None, "", "alice", 'quote " and \\ backslash', "ünïcödé €", "emoji \U0001f600", "tab\tnew\nline",
               "\x01\x1f control", "</script>", "null", "\u2028 line separator"]
    for subject in awkward:
        for sent in (None, "b-77", subject if subject is not None else "x"):
            record = preds.PredictionRecord(request_id="r", system="s", model_version_id="mv", output=1,
                                            features={"name": subject, "q": '"'}, sensitive={"g": "ü"},
                                            latency_ms=1.0, served_at=canon.utc_now(), caller="t",
                                            subject_id=subject, subject_id_sent=sent)
            expected = canon.hash_value({"features": {"name": subject, "q": '"'}, "salt": record.salt,
                                         "sensitive": {"g": "ü"}, "subject_id": subject, "subject_id_sent": sent})
            assert record.payload_hash == expected, (subject, sent)
            assert payload_hash_v2_of(record.salt, record.features_json, record.sensitive_json, subject, sent) == expected
            assert records.payload_hash_v2(record.salt, record.features_json, record.sensitive_json, subject,
                                           sent) == expected
            assert payload_hash_of(record.salt, record.features_json, record.sensitive_json) != expected


def test_the_hash_differs_for_every_placement_of_the_ids() -> None:
    """NULL, empty and swapped ids hash apart: no edit of the ids keeps the hash."""
    salt, features, sensitive = "0" * 32, '{"a":1}', '{}'
    placements = [(None, None), ("", None), (None, ""), ("", ""), ("a", None), (None, "a"), ("a", "b"), ("b", "a"),
                  ("null", None), ("a", "a")]
    hashes = {payload_hash_v2_of(salt, features, sensitive, s, t) for s, t in placements}
    assert len(hashes) == len(placements)
    assert payload_hash_of(salt, features, sensitive) not in hashes


def legacy_payload(ledger: Ledger, subject: str | None, sent: str | None) -> str:
    """A prediction logged before the subject ids were hashed: its payload hash in the old form."""
    salt, features, sensitive = secrets.token_hex(16), '{"age":41}', '{"sex":"f"}'
    digest = payload_hash_of(salt, features, sensitive)
    with ledger.write("predictions.logged", "credit: 1") as w:
        w.add(Prediction, request_id="req-old", system="credit", model_version_id="mv-1", output_json="1",
              latency_ms=1.0, served_at=canon.utc_now(), caller="tester", payload_hash=digest)
        w.conn.execute(insert(PredictionPayload), dict(payload_hash=digest, salt=salt, features_json=features,
                                                       sensitive_json=sensitive, subject_id=subject,
                                                       subject_id_sent=sent, created_at=canon.utc_now()))
    return digest


def test_a_payload_written_in_the_old_form_still_verifies(ledger: Ledger) -> None:
    legacy_payload(ledger, "alice", "a-1")
    legacy_payload(ledger, None, None)
    head = verify(ledger)
    log(ledger, PEOPLE)
    assert verify(ledger).intact, verify(ledger).findings
    assert verify(ledger, since=head.head_hash).intact


def test_the_known_limit_an_old_form_payloads_subject_ids_are_not_bound(ledger: Ledger) -> None:
    """The old form leaves the subject ids out, so nothing binds them on the rows logged before they
    were hashed: re-attributing one is NOT caught. Held here so that the limit stays known and narrow
    (only these rows: a new payload's edit is caught above)."""
    digest = legacy_payload(ledger, "alice", "a-1")
    tamper(ledger, "UPDATE prediction_payloads SET subject_id = 'mallory', subject_id_sent = NULL "
           "WHERE payload_hash = :h", h=digest)
    assert verify(ledger).intact
    tamper(ledger, "UPDATE prediction_payloads SET features_json = :f WHERE payload_hash = :h", f='{"age":42}', h=digest)
    assert [f.record for f in verify(ledger).findings] == [f"prediction payload {digest[:16]}..."]


def test_a_new_payload_is_never_accepted_under_the_old_form(ledger: Ledger) -> None:
    """The old form is tried only against the hash the chain fixes: a new-form hash never matches it,
    so clearing both ids (what the old form leaves out) is still caught."""
    batch = log(ledger, [("alice", "a-1")])
    attack(ledger, batch, [("subject_id", None, 0), ("subject_id_sent", None, 0)])
    report = verify(ledger)
    assert [str(f) for f in report.findings] == [
        f"outside the chain: prediction payload {batch[0].payload_hash[:16]}...: its content no longer matches its hash"]


def test_the_stored_subject_ids_are_the_hashed_ones_on_every_write_path(ledger: Ledger,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Portable INSERT, PostgreSQL's array INSERT and COPY: each stores the ids the record hashed."""
    sizes = [3, preds.COPY_PAYLOADS + 2]
    for writer in ("portable", "auto"):
        monkeypatch.setenv("GOVFLOW_PREDICTION_WRITER", writer)
        for size in sizes:
            log(ledger, [(f"s-{i}", f"t-{i}" if i % 2 else None) for i in range(size)])
    with ledger.read() as conn:
        rows = conn.execute(select(PredictionPayload)).mappings().all()
    assert len(rows) == 2 * sum(sizes)
    for row in rows:
        assert row["payload_hash"] == payload_hash_v2_of(row["salt"], row["features_json"], row["sensitive_json"],
                                                         row["subject_id"], row["subject_id_sent"])
    assert verify(ledger).intact
