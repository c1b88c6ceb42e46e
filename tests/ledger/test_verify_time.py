"""Time along the chain (issue #13, item 4): `recorded_at` never decreases from one entry to the next.

An entry appended behind govflow with an earlier `recorded_at` (properly hashed and linked) is
tampering for `verify`; govflow's own writer never produces one, even when the clock goes back.
"""

from __future__ import annotations

from govflow import canonical as canon
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.verify import verify
from tests.ledger.helpers import db_url, entries, execute, govflow, record_step


def append_entry(ledger: Ledger, recorded_at: str) -> int:
    """A DBA appends a well-formed, properly linked entry with the time of their choosing."""
    seq, prev = ledger.head()
    payload_json = canon.canonical(canon.payload_of({})).decode()
    payload_hash = canon.sha256_hex(payload_json.encode())
    entry = canon.entry_hash(seq + 1, recorded_at, "approval.recorded", "model credit:1", payload_hash, prev)
    execute(ledger, "INSERT INTO audit_log (seq, recorded_at, event_type, subject, payload_json, payload_hash, prev_hash, "
            "entry_hash) VALUES (:s, :r, 'approval.recorded', 'model credit:1', :pj, :ph, :prev, :e)",
            s=seq + 1, r=recorded_at, pj=payload_json, ph=payload_hash, prev=prev, e=entry)
    return seq + 1


def test_entry_recorded_before_its_predecessor(ledger: Ledger) -> None:
    record_step(ledger)
    before = entries(ledger)[-1]["recorded_at"]
    seq = append_entry(ledger, "2020-01-01T00:00:00.000000Z")
    assert [str(f) for f in verify(ledger).findings] == [
        f"entry {seq}: audit entry {seq} (approval.recorded, model credit:1): "
        f"recorded_at 2020-01-01T00:00:00.000000Z is earlier than the entry before it ({before})"]
    result = govflow("verify", home=ledger.home, db=db_url(ledger))
    assert result.returncode == 1, result.stderr
    assert "recorded_at 2020-01-01T00:00:00.000000Z is earlier than the entry before it" in result.stderr


def test_writer_never_records_an_earlier_time_than_the_head(ledger: Ledger) -> None:
    """A head stamped ahead of this machine's clock (another writer's clock, or a clock set back since)."""
    ahead = "2099-01-01T00:00:00.000000Z"
    append_entry(ledger, ahead)
    record_step(ledger)
    assert entries(ledger)[-1]["recorded_at"] == ahead
    assert verify(ledger).intact
