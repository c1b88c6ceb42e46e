"""`verify` catches tampering by someone with direct database access (past the append-only triggers).

Each test builds the same small ledger (genesis, six recorded steps at seq 2-7, a stored artifact
at seq 8), tampers as a DBA could (the triggers out of the way for the statement and back after it,
so the schema pass has nothing to report: `test_verify_schema` covers triggers left dropped), and
checks the first finding.
"""

from __future__ import annotations

from typing import Any

import pytest

from govflow import canonical as canon
from govflow.governance.ledger.anchors import logged_heads
from govflow.governance.ledger.engine import TABLES, Ledger
from govflow.governance.ledger.schema import Artifact, Prediction, PredictionPayload
from govflow.governance.ledger.verify import Report, verify
from tests.ledger.dba import tamper
from tests.ledger.helpers import (
    db_url,
    entries,
    govflow,
    record_step,
    rewrite_chain,
)

STEPS = 6  # seq 2..7
ARTIFACT_SEQ = 8
CARD = b"# Model card\n\nIntended purpose: credit scoring.\n"


@pytest.fixture
def book(ledger: Ledger) -> dict[str, Any]:
    """The ledger with six steps and an artifact, and the head an auditor exported at that point."""
    steps = [record_step(ledger, n=n) for n in range(STEPS)]
    digest = ledger.artifacts.put(CARD)
    with ledger.write("artifact.stored", "model card") as w:
        w.add(Artifact, kind="model_card", name="model_card.md", content_hash=digest,
              uri=ledger.artifacts.uri(digest), media_type="text/markdown", size=len(CARD),
              created_at=canon.utc_now())
    seq, head = ledger.head()
    assert seq == ARTIFACT_SEQ
    report = verify(ledger)
    assert report.intact, report.findings
    return {"ledger": ledger, "steps": steps, "digest": digest, "head": head}


def first(report: Report) -> str:
    assert not report.intact
    return str(report.first())


def row_id(ledger: Ledger, table: str, seq: int, **where: str) -> str:
    sql = f"SELECT id FROM {table} WHERE audit_seq = :seq" + "".join(f" AND {k} = :{k}" for k in where)
    return str(tamper(ledger, sql + " ORDER BY id LIMIT 1", seq=seq, **where).scalar_one())


# --- the chain ------------------------------------------------------------------------------------


def test_intact_ledger_verifies(book: dict[str, Any]) -> None:
    report = verify(book["ledger"], [book["head"]])
    assert report.intact, report.findings
    assert (report.entries, report.rows, report.artifacts) == (8, STEPS * 10 + 1, 1)
    assert (report.head_seq, report.head_hash) == (ARTIFACT_SEQ, book["head"])


def test_modified_entry(book: dict[str, Any]) -> None:
    tamper(book["ledger"], "UPDATE audit_log SET subject = 'run nothing-to-see' WHERE seq = 4")
    assert first(verify(book["ledger"])) == (
        "entry 4: audit entry 4 (task.completed, run nothing-to-see): entry_hash does not match the entry's content")


def test_modified_payload(book: dict[str, Any]) -> None:
    ledger = book["ledger"]
    payload = tamper(ledger, "SELECT payload_json FROM audit_log WHERE seq = 5").scalar_one()
    tamper(ledger, "UPDATE audit_log SET payload_json = :p WHERE seq = 5", p=payload.replace('"rows":3', '"rows":2'))
    assert first(verify(ledger)) == (
        "entry 5: audit entry 5 (task.completed, run train-3): its payload does not match its payload_hash")


def test_deleted_entry(book: dict[str, Any]) -> None:
    tamper(book["ledger"], "DELETE FROM audit_log WHERE seq = 4")
    report = verify(book["ledger"])
    assert first(report) == "entry 4: audit entry 4: missing: the next entry is 5"
    problems = {str(f) for f in report.findings}
    assert any(p.startswith("entry 5: audit entry 5 (task.completed, run train-3): prev_hash") for p in problems)
    assert "entry 4: table runs: 1 row(s) claim this entry, which recorded none in runs: added behind the chain" in problems


def test_deleted_last_entry_is_caught_by_the_exported_head(book: dict[str, Any]) -> None:
    """Cutting the tail leaves a consistent, shorter chain: only an exported head notices."""
    ledger = book["ledger"]
    for table in TABLES:
        tamper(ledger, f"DELETE FROM {table} WHERE audit_seq = {ARTIFACT_SEQ}")
    tamper(ledger, f"DELETE FROM audit_log WHERE seq = {ARTIFACT_SEQ}")
    assert verify(ledger).intact
    assert first(verify(ledger, [book["head"]])) == (
        f"outside the chain: head {book['head'][:16]}...: "
        "an exported chain head is no longer in the chain: the chain was rewritten")


def test_reordered_entries(book: dict[str, Any]) -> None:
    ledger = book["ledger"]
    a, b = (e for e in entries(ledger) if e["seq"] in (3, 6))
    columns = ("recorded_at", "event_type", "subject", "payload_json", "payload_hash", "prev_hash", "entry_hash")
    sets = ", ".join(f"{c} = :{c}" for c in columns)
    placeholder = {**b, "prev_hash": "p" * 64, "entry_hash": "e" * 64}
    tamper(ledger, f"UPDATE audit_log SET {sets} WHERE seq = 6", **{c: placeholder[c] for c in columns})
    tamper(ledger, f"UPDATE audit_log SET {sets} WHERE seq = 3", **{c: b[c] for c in columns})
    tamper(ledger, f"UPDATE audit_log SET {sets} WHERE seq = 6", **{c: a[c] for c in columns})
    report = verify(ledger)
    assert first(report).startswith("entry 3: audit entry 3 (task.completed, run train-4): prev_hash ")
    assert "entry 3: audit entry 3 (task.completed, run train-4): entry_hash does not match the entry's content" in {
        str(f) for f in report.findings}


def test_inserted_entry(book: dict[str, Any]) -> None:
    """A forged entry slipped in at seq 4, properly hashed and linked, everything after shifted up."""
    ledger = book["ledger"]
    third = entries(ledger)[2]
    for table in TABLES:
        tamper(ledger, f"UPDATE {table} SET audit_seq = audit_seq + 1 WHERE audit_seq >= 4")
    tamper(ledger, "UPDATE audit_log SET seq = -seq WHERE seq >= 4")
    tamper(ledger, "UPDATE audit_log SET seq = 1 - seq WHERE seq < 0")
    payload_json = canon.canonical(canon.payload_of({})).decode()
    payload_hash = canon.sha256_hex(payload_json.encode())
    forged = canon.entry_hash(4, third["recorded_at"], "approval.recorded", "model credit:1", payload_hash,
                              third["entry_hash"])
    tamper(ledger, "UPDATE audit_log SET prev_hash = :f WHERE seq = 5", f=forged)
    tamper(ledger, "INSERT INTO audit_log (seq, recorded_at, event_type, subject, payload_json, payload_hash, "
            "prev_hash, entry_hash) VALUES (4, :r, 'approval.recorded', 'model credit:1', :pj, :ph, :prev, :e)",
            r=third["recorded_at"], pj=payload_json, ph=payload_hash, prev=third["entry_hash"], e=forged)
    assert first(verify(ledger)) == (
        "entry 5: audit entry 5 (task.completed, run train-2): entry_hash does not match the entry's content")


def test_appended_unlinked_entry(book: dict[str, Any]) -> None:
    ledger = book["ledger"]
    tamper(ledger, "INSERT INTO audit_log (seq, recorded_at, event_type, subject, payload_json, payload_hash, "
            "prev_hash, entry_hash) VALUES (9, '2026-11-29T20:30:40.000000Z', 'x', 'y', '{}', :ph, :p, :e)",
            ph=canon.sha256_hex(b"{}"), p="1" * 64, e="2" * 64)
    assert first(verify(ledger)).startswith("entry 9: audit entry 9 (x, y): prev_hash 1111111111111111... does not link")


# --- the rows behind the chain ---------------------------------------------------------------------


def test_row_changed_behind_the_chain(book: dict[str, Any]) -> None:
    ledger = book["ledger"]
    tamper(ledger, "UPDATE check_results SET passed = 0 WHERE id = :id",
            id=row_id(ledger, "check_results", 5, kind="fairness"))
    assert first(verify(ledger)) == "entry 5: table check_results: a row recorded by this entry was changed"


def test_row_added_behind_the_chain(book: dict[str, Any]) -> None:
    ledger = book["ledger"]
    run_id = book["steps"][1]["run"]["id"]  # seq 3
    tamper(ledger, "INSERT INTO run_states (id, run_id, state, at, audit_seq) "
            "VALUES ('forged-state', :r, 'failed', '2026-11-29 20:30:40.000000', 3)", r=run_id)
    assert first(verify(ledger)) == (
        "entry 3: table run_states: entry recorded 2 row(s), found 3: row(s) added behind the chain")


def test_row_added_to_a_table_the_entry_did_not_touch(book: dict[str, Any]) -> None:
    ledger = book["ledger"]
    tamper(ledger, "INSERT INTO decisions (id, model_version_id, outcome, reasons_json, policy_hash, decided_at, "
            "audit_seq) VALUES ('forged', 'mv', 'pass', '[]', 'p', '2026-11-29 20:30:40.000000', 6)")
    assert first(verify(ledger)) == (
        "entry 6: table decisions: 1 row(s) claim this entry, which recorded none in decisions: added behind the chain")


def test_row_moved_to_another_entry(book: dict[str, Any]) -> None:
    ledger = book["ledger"]
    tamper(ledger, "UPDATE edges SET audit_seq = 2 WHERE id = :id", id=row_id(ledger, "edges", 7))
    findings = [str(f) for f in verify(ledger).findings]
    assert findings == [
        "entry 2: table edges: entry recorded 3 row(s), found 4: row(s) added behind the chain",
        "entry 7: table edges: entry recorded 3 row(s), found 2: row(s) removed",
    ]


def test_row_removed_behind_the_chain(book: dict[str, Any]) -> None:
    ledger = book["ledger"]
    tamper(ledger, "DELETE FROM edges WHERE id = :id", id=row_id(ledger, "edges", 4, direction="input"))
    assert first(verify(ledger)) == "entry 4: table edges: entry recorded 3 row(s), found 2: row(s) removed"


def test_every_row_of_an_entry_removed(book: dict[str, Any]) -> None:
    ledger = book["ledger"]
    tamper(ledger, "DELETE FROM runs WHERE audit_seq = 6")
    assert first(verify(ledger)) == "entry 6: table runs: all 1 row(s) recorded by this entry were removed"


# --- stored files and prediction payloads ----------------------------------------------------------


def test_artifact_file_altered(book: dict[str, Any]) -> None:
    ledger = book["ledger"]
    ledger.artifacts.path(book["digest"]).write_bytes(CARD.replace(b"credit", b"debit"))
    assert first(verify(ledger)).startswith(
        f"entry {ARTIFACT_SEQ}: artifact model_card.md: artifact file artifacts/{book['digest']} was altered")


def test_artifact_file_missing(book: dict[str, Any]) -> None:
    ledger = book["ledger"]
    ledger.artifacts.path(book["digest"]).unlink()
    assert first(verify(ledger)) == (
        f"entry {ARTIFACT_SEQ}: artifact model_card.md: artifact file artifacts/{book['digest']} is missing")


def test_payload_removed_without_tombstone_or_altered(book: dict[str, Any]) -> None:
    from tests.ledger.test_ledger import add_payload

    ledger = book["ledger"]
    gone = add_payload(ledger, "person-1")
    kept = add_payload(ledger, "person-2")
    tamper(ledger, "DELETE FROM prediction_payloads WHERE payload_hash = :h", h=gone)
    tamper(ledger, "UPDATE prediction_payloads SET sensitive_json = '{\"sex\":\"m\"}' WHERE payload_hash = :h", h=kept)
    pid = tamper(ledger, "SELECT id FROM predictions WHERE payload_hash = :h", h=gone).scalar_one()
    findings = {str(f) for f in verify(ledger).findings}
    assert findings == {
        f"entry {ARTIFACT_SEQ + 1}: prediction {pid}: its payload was removed without a purge tombstone",
        f"outside the chain: prediction payload {kept[:16]}...: its content no longer matches its hash",
        # sex=f counted twice when logged; the log now gives it once, and sex=m once
        "outside the chain: the dashboard's hourly sums (prediction_rollup): 2 cell(s) differ from what the "
        "predictions and payloads give now, which were changed (see their findings)",
    }
    assert {Prediction.__tablename__, PredictionPayload.__tablename__}  # the tables concerned


# --- a rewrite of the whole chain ------------------------------------------------------------------


def forge_history(ledger: Ledger) -> str:
    """Flip a failed-looking check to passed at seq 3 and recompute a consistent chain from there."""
    tamper(ledger, "UPDATE check_results SET passed = 0, observed_json = '0.9' WHERE id = :id",
            id=row_id(ledger, "check_results", 3, kind="fairness"))
    new_head = rewrite_chain(ledger, 3)
    report = verify(ledger)
    assert report.intact, "a consistent rewrite is invisible without an exported head"
    assert report.head_hash == new_head
    return new_head


def test_whole_chain_rewrite_caught_against_exported_head(book: dict[str, Any]) -> None:
    ledger = book["ledger"]
    forge_history(ledger)
    report = verify(ledger, heads=[book["head"]])
    assert [str(f) for f in report.findings] == [
        f"outside the chain: head {book['head'][:16]}...: "
        "an exported chain head is no longer in the chain: the chain was rewritten"]


def test_cli_head_option_catches_a_rewrite(book: dict[str, Any]) -> None:
    ledger = book["ledger"]
    forge_history(ledger)
    assert not (ledger.home / "heads.log").exists()  # no verify ran here before: only --head knows
    unaware = govflow("verify", home=ledger.home, db=db_url(ledger))
    assert unaware.returncode == 0, unaware.stderr
    result = govflow("verify", "--head", book["head"], home=ledger.home, db=db_url(ledger))
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines()[0] == (
        f"TAMPERING FOUND: 1 finding(s); first broken: outside the chain: head {book['head'][:16]}...: "
        "an exported chain head is no longer in the chain: the chain was rewritten")


def test_cli_heads_log_catches_a_rewrite_without_head_option(book: dict[str, Any]) -> None:
    ledger = book["ledger"]
    before = govflow("verify", home=ledger.home, db=db_url(ledger))
    assert before.returncode == 0, before.stderr
    forge_history(ledger)
    after = govflow("verify", home=ledger.home, db=db_url(ledger))
    assert after.returncode == 1
    assert "an exported chain head is no longer in the chain: the chain was rewritten" in after.stderr


# --- the command line ------------------------------------------------------------------------------


def test_cli_verify_intact_prints_and_logs_the_head(ledger: Ledger) -> None:
    for n in range(2):
        record_step(ledger, n=n)
    seq, head = ledger.head()
    result = govflow("verify", home=ledger.home, db=db_url(ledger))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "ledger intact: 3 entries, 20 rows, 0 stored files checked",
        f"next time, verify only what is appended after the head below: govflow verify --since {seq}:{head}",
        f"head {seq} {head}"]
    assert result.stderr == ""
    assert logged_heads(ledger.home, ledger.ledger_id()) == [head]
    record_step(ledger, n=2)
    again = govflow("verify", home=ledger.home, db=db_url(ledger))
    assert again.returncode == 0, again.stderr
    lines = (ledger.home / "heads.log").read_text().splitlines()
    assert len(lines) == 2
    stamp, ledger_id, logged_seq, logged_head = lines[1].split()
    assert (ledger_id, logged_seq, logged_head) == (ledger.ledger_id(), "4", ledger.head()[1])
    assert stamp.endswith("Z")


def test_cli_verify_names_the_first_broken_entry(book: dict[str, Any]) -> None:
    ledger = book["ledger"]
    tamper(ledger, "UPDATE check_results SET passed = 0 WHERE id = :id",
            id=row_id(ledger, "check_results", 6, kind="performance"))
    tamper(ledger, "UPDATE audit_log SET event_type = 'task.skipped' WHERE seq = 7")
    result = govflow("verify", home=ledger.home, db=db_url(ledger))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "TAMPERING FOUND: 2 finding(s); first broken: entry 6: table check_results: a row recorded by this entry was changed",
        "  entry 7: audit entry 7 (task.skipped, run train-5): entry_hash does not match the entry's content",
    ]
    assert result.stdout == f"head 8 {book['head']} (not trusted)\n"
    assert "Traceback" not in result.stderr
    assert not (ledger.home / "heads.log").exists()


def test_payload_replaced_by_garbage_is_a_finding_not_a_crash(book: dict[str, Any]) -> None:
    ledger = book["ledger"]
    tamper(ledger, "UPDATE audit_log SET payload_json = 'not json' WHERE seq = 3")
    report = verify(ledger)
    assert first(report) == (
        "entry 3: audit entry 3 (task.completed, run train-1): its payload does not match its payload_hash")
    assert "entry 3: audit entry 3: its payload is not a well-formed govflow payload" in {str(f) for f in report.findings}


def test_emptied_ledger(book: dict[str, Any]) -> None:
    ledger = book["ledger"]
    for table in [*TABLES, "audit_log"]:
        tamper(ledger, f"DELETE FROM {table}")
    assert first(verify(ledger)) == "entry 1: audit entry 1: missing: the chain is empty, even its genesis entry is gone"
