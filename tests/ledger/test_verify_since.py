"""`verify --since HEAD`: only what was appended after a head verified before, and that head still in place.

What it promises, and what it does not (the README's scale section says the same): a change after the
head is caught; a rewrite of the chain up to the head is caught (the head's hash is gone); a change
before the head that leaves the head's own entry alone is found by a full verify only.
"""

from __future__ import annotations

import pytest

from govflow import canonical as canon
from govflow.errors import InputError
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.verify import Report, verify
from govflow.governance.trail import predictions as preds
from tests.ledger.dba import tamper
from tests.ledger.helpers import govflow, record_step, rewrite_chain


def verified_head(ledger: Ledger) -> Report:
    report = verify(ledger)
    assert report.intact, report.findings
    return report


def problems(report: Report) -> list[str]:
    return [str(f) for f in report.ordered()]


def log_predictions(ledger: Ledger, n: int) -> list[preds.PredictionRecord]:
    batch = [preds.PredictionRecord(request_id=f"req-{i}", system="credit", model_version_id="mv-1",
                                    output={"decision": i % 2}, features={"x": i}, sensitive={"g": "a"},
                                    latency_ms=1.0, served_at=canon.utc_now(), caller="tester") for i in range(n)]
    preds.write_predictions(ledger, batch, require_production=False)
    return batch


def test_since_checks_only_the_new_entries_and_reports_the_new_head(ledger: Ledger) -> None:
    for n in range(3):
        record_step(ledger, n=n)
    head = verified_head(ledger)
    record_step(ledger, n=3)
    log_predictions(ledger, 4)
    report = verify(ledger, since=head.head_hash)
    assert report.intact, report.findings
    assert report.since_seq == head.head_seq and report.entries == 2
    assert report.rows == 10 + 4  # the step (a run, 2 states, a dataset, 3 edges, 3 checks), 4 predictions
    assert report.head_seq == head.head_seq + 2 and report.head_hash == ledger.head()[1]
    assert verify(ledger, since=f"{head.head_seq}:{head.head_hash}").intact


def test_since_the_current_head_checks_nothing_new_and_passes(ledger: Ledger) -> None:
    record_step(ledger)
    head = verified_head(ledger)
    report = verify(ledger, since=head.head_hash.upper())
    assert report.intact and report.entries == 0 and report.head_hash == head.head_hash


def test_a_row_changed_after_the_head_is_caught(ledger: Ledger) -> None:
    record_step(ledger, n=0)
    head = verified_head(ledger)
    new = record_step(ledger, n=1)
    tamper(ledger, "UPDATE check_results SET passed = 0 WHERE run_id = :r", r=new["run"]["id"])
    report = verify(ledger, since=head.head_hash)
    assert problems(report) == [f"entry {new['seq']}: table check_results: a row recorded by this entry was changed"]


def test_a_prediction_payload_changed_or_removed_after_the_head_is_caught(ledger: Ledger) -> None:
    log_predictions(ledger, 2)
    head = verified_head(ledger)
    changed, removed = log_predictions(ledger, 2)
    tamper(ledger, "UPDATE prediction_payloads SET features_json = :f WHERE payload_hash = :h", f='{"x":99}',
           h=changed.payload_hash)
    tamper(ledger, "DELETE FROM prediction_payloads WHERE payload_hash = :h", h=removed.payload_hash)
    report = verify(ledger, since=head.head_hash)
    assert problems(report) == [
        f"entry {head.head_seq + 1}: prediction {removed.id}: its payload was removed without a purge tombstone",
        f"outside the chain: prediction payload {changed.payload_hash[:16]}...: its content no longer matches its hash",
        # the removed payload's groups: the summary still counts them, the log no longer gives them
        "outside the chain: the dashboard's hourly sums (prediction_rollup): 1 cell(s) differ from what the "
        "predictions and payloads give now, which were changed (see their findings)"]


def test_an_entry_appended_after_the_head_that_does_not_link_to_it_is_caught(ledger: Ledger) -> None:
    record_step(ledger, n=0)
    head = verified_head(ledger)
    new = record_step(ledger, n=1)
    tamper(ledger, "UPDATE audit_log SET subject = 'run forged' WHERE seq = :s", s=new["seq"])
    report = verify(ledger, since=head.head_hash)
    assert any("entry_hash does not match the entry's content" in p for p in problems(report))


def test_a_chain_rewritten_up_to_the_head_is_caught(ledger: Ledger) -> None:
    first = record_step(ledger, n=0)
    record_step(ledger, n=1)
    head = verified_head(ledger)
    record_step(ledger, n=2)
    tamper(ledger, "UPDATE check_results SET passed = 0 WHERE run_id = :r", r=first["run"]["id"])
    rewrite_chain(ledger, from_seq=first["seq"])  # consistent again: a full verify alone no longer sees it
    assert verify(ledger).intact
    report = verify(ledger, since=head.head_hash)
    assert problems(report) == [
        f"outside the chain: head {head.head_hash[:16]}...: the head verified before is no longer in the chain: "
        "the chain up to it was rewritten (run a full `govflow verify` to find where)"]


def test_a_head_named_at_another_position_is_caught(ledger: Ledger) -> None:
    record_step(ledger)
    head = verified_head(ledger)
    report = verify(ledger, since=f"{head.head_seq + 5}:{head.head_hash}")
    assert problems(report) == [
        f"entry {head.head_seq + 5}: head {head.head_hash[:16]}...: the head verified before is no longer in the chain "
        f"at entry {head.head_seq + 5}: the chain up to it was rewritten (run a full `govflow verify` to find where) "
        f"(it is now entry {head.head_seq})"]


def test_a_change_before_the_head_that_leaves_it_alone_is_for_the_full_verify(ledger: Ledger) -> None:
    """The documented limit of --since: it does not re-read what came before the head."""
    first = record_step(ledger, n=0)
    head = verified_head(ledger)
    tamper(ledger, "UPDATE check_results SET passed = 0 WHERE run_id = :r", r=first["run"]["id"])
    assert verify(ledger, since=head.head_hash).intact
    assert problems(verify(ledger)) == [f"entry {first['seq']}: table check_results: a row recorded by this entry was changed"]


@pytest.mark.parametrize("given", ["HEAD", "12", "x:" + "a" * 64, ":" + "a" * 64, "a" * 63])
def test_a_malformed_head_is_refused_saying_the_form(sqlite_ledger: Ledger, given: str) -> None:
    with pytest.raises(InputError) as caught:
        verify(sqlite_ledger, since=given)
    assert str(caught.value) == (f"--since {given!r}: expected a chain head as `govflow verify` prints it, its entry "
                                 "hash (64 hex digits), optionally after its sequence number and a colon (SEQ:HASH)")


def test_the_command_line_verifies_since_the_head_it_printed(sqlite_ledger: Ledger) -> None:
    record_step(sqlite_ledger, n=0)
    home = sqlite_ledger.home
    full = govflow("verify", home=home)
    assert full.returncode == 0, full.stderr
    seq, head = full.stdout.strip().splitlines()[-1].split()[1:]
    record_step(sqlite_ledger, n=1)
    since = govflow("verify", "--since", f"{seq}:{head}", home=home)
    assert since.returncode == 0, since.stderr
    assert since.stdout.startswith(f"ledger intact since entry {seq}: 1 new entries, 10 rows, 0 stored files checked\n")
    bad = govflow("verify", "--since", "HEAD", home=home)
    assert bad.returncode != 0 and "--since 'HEAD': expected a chain head as `govflow verify` prints it" in bad.stderr


def test_the_head_entry_changed_in_place_under_its_old_hash_is_caught(ledger: Ledger) -> None:
    record_step(ledger, n=0)
    head = verified_head(ledger)
    record_step(ledger, n=1)
    tamper(ledger, "UPDATE audit_log SET subject = 'run forged' WHERE seq = :s", s=head.head_seq)
    report = verify(ledger, since=head.head_hash)
    assert problems(report) == [
        f"entry {head.head_seq}: audit entry {head.head_seq}: the head verified before is still in the chain, but its "
        "entry no longer matches its hash: changed in place (run a full `govflow verify` to find what else was)"]
