"""The ledger's write path and its append-only guarantee, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import DBAPIError

from govflow import canonical as canon
from govflow.errors import LedgerError
from govflow.governance.ledger.engine import COLUMN_KINDS, TABLES, Ledger, row_hash
from govflow.governance.ledger.schema import (
    APPEND_ONLY_TABLES,
    AuditEntry,
    Base,
    Prediction,
    PredictionPayload,
    Purge,
    PurgedPayload,
    Run,
    RunState,
)
from govflow.governance.ledger.verify import payload_hash_v2_of, verify
from tests.ledger.helpers import execute, record_step

MODELS = {mapper.class_.__tablename__: mapper.class_ for mapper in Base.registry.mappers}
MOMENT = datetime(2026, 11, 29, 20, 30, 40, 123456, tzinfo=UTC)


def append_only_message(table: str) -> str:
    return f"govflow ledger: {table} is append-only (UPDATE and DELETE are refused)"


PAYLOAD_NO_UPDATE = "govflow ledger: prediction_payloads cannot be updated, only purged"
PAYLOAD_NO_DELETE = "govflow ledger: a prediction payload may be deleted only after its tombstone is recorded"


def sample_row(table: str) -> dict[str, Any]:
    """A value for every column of a history table, by column kind."""
    values = {"dt": MOMENT, "int": 1, "float": 0.1 + 0.2, "str": "ü€"}  # fits every column's length
    return {name: values[kind] for name, kind in COLUMN_KINDS[table] if name not in ("id", "audit_seq")}


def add_payload(ledger: Ledger, subject_id: str = "person-1") -> str:
    """Record a prediction and its (purgeable) payload in one transaction; return the payload hash."""
    salt, features, sensitive = os.urandom(16).hex(), '{"age":41}', '{"sex":"f"}'
    payload_hash = payload_hash_v2_of(salt, features, sensitive, subject_id, None)
    with ledger.write("predictions.served", "credit-scoring") as w:
        w.add(Prediction, request_id="req-1", system="credit-scoring", model_version_id="mv-1",
              output_json='{"score":0.7}', latency_ms=1.5, served_at=MOMENT, caller="test",
              payload_hash=payload_hash)
        w.conn.execute(insert(PredictionPayload), dict(
            payload_hash=payload_hash, salt=salt, features_json=features, sensitive_json=sensitive,
            subject_id=subject_id, created_at=MOMENT))
    return payload_hash


def chain_and_row_findings(ledger: Ledger) -> list[str]:
    """Findings about the chain and the rows (sample rows name files and payloads that do not exist)."""
    return [str(f) for f in verify(ledger).findings if f.record.startswith(("audit entry", "table"))]


def refusal(ledger: Ledger, sql: str) -> str:
    """The database's error message for a statement it must refuse."""
    with pytest.raises(DBAPIError) as caught:
        execute(ledger, sql)
    return str(caught.value.orig)


def test_open_creates_genesis_and_reopen_keeps_it(ledger: Ledger) -> None:
    seq, head = ledger.head()
    assert seq == 1
    with ledger.read() as conn:
        genesis = conn.execute(select(AuditEntry).where(AuditEntry.seq == 1)).mappings().one()
    assert genesis["prev_hash"] == canon.GENESIS
    assert genesis["event_type"] == "ledger.created"
    assert genesis["entry_hash"] == head
    again = Ledger.open(ledger.engine.url.render_as_string(hide_password=False), ledger.home)
    try:
        assert again.head() == (1, head)
        assert again.ledger_id() == ledger.ledger_id()
    finally:
        again.close()


def test_one_write_is_one_chained_entry(ledger: Ledger) -> None:
    _, genesis = ledger.head()
    step = record_step(ledger)
    assert step["seq"] == 2
    assert ledger.head() == (2, step["entry_hash"])
    with ledger.read() as conn:
        entry = conn.execute(select(AuditEntry).where(AuditEntry.seq == 2)).mappings().one()
        assert entry["prev_hash"] == genesis
        payload = json.loads(entry["payload_json"])
        counts = {name: conn.execute(select(func.count()).select_from(TABLES[name])
                                     .where(TABLES[name].c.audit_seq == 2)).scalar_one()
                  for name in payload["tables"]}
    assert {name: t["rows"] for name, t in payload["tables"].items()} == counts == {
        "runs": 1, "run_states": 2, "dataset_versions": 1, "edges": 3, "check_results": 3}
    assert entry["payload_hash"] == canon.sha256_hex(entry["payload_json"].encode())
    assert entry["entry_hash"] == canon.hash_value({k: entry[k] for k in (
        "seq", "recorded_at", "event_type", "subject", "payload_hash", "prev_hash")})


def test_rows_read_back_hash_as_written(ledger: Ledger) -> None:
    """The canonical form is backend-independent: timestamps, floats, NULLs read back the same."""
    written = {}
    with ledger.write("all.tables", "every history table") as w:
        for table in TABLES:
            written[table] = w.add(MODELS[table], **sample_row(table))
    with ledger.read() as conn:
        for table, row in written.items():
            stored = conn.execute(TABLES[table].select().where(TABLES[table].c.id == row["id"])).mappings().one()
            assert row_hash(table, dict(stored)) == row_hash(table, row), table
    assert chain_and_row_findings(ledger) == []


@pytest.mark.parametrize("text_value", ["", "ü€", 'q"uo\\te', "\x00\x1f\n\t", "\u2028", "😀", "</script>"])
def test_row_hash_is_the_documented_canonical_form(text_value: str) -> None:
    """`row_hash` is hand-written for speed; it must equal the spec in `govflow.canonical`."""
    values: dict[str, Any] = {"dt": MOMENT, "int": -(2**70), "float": 5e-324, "str": text_value}
    for table, kinds in COLUMN_KINDS.items():
        for blank in (None, *[name for name, _ in kinds]):
            row = {name: None if name == blank else values[kind] for name, kind in kinds}
            documented = {name: canon.format_ts(v) if kind == "dt" and v is not None else v
                          for name, kind in kinds for v in (row[name],)}
            assert row_hash(table, row) == canon.hash_value({"table": table, "row": documented}), table
    with pytest.raises(ValueError):
        row_hash("predictions", {"latency_ms": float("nan")})


def test_timestamps_are_rfc3339_utc_with_microseconds() -> None:
    assert canon.format_ts(MOMENT) == "2026-11-29T20:30:40.123456Z"
    assert canon.format_ts(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05.000000Z"
    plus_two = timezone(timedelta(hours=2))
    assert canon.format_ts(datetime(2026, 1, 1, 1, 0, tzinfo=plus_two)) == "2025-12-31T23:00:00.000000Z"


def test_failed_write_leaves_nothing(ledger: Ledger) -> None:
    before = ledger.head()
    with pytest.raises(RuntimeError, match="step crashed"):
        with ledger.write("task.completed", "run x") as w:
            w.add(Run, kind="task", name="x", params_json="{}", env_json="{}", started_at=MOMENT)
            raise RuntimeError("step crashed")
    assert ledger.head() == before
    with ledger.read() as conn:
        assert conn.execute(select(func.count()).select_from(Run)).scalar_one() == 0


def test_a_write_inside_a_write_is_refused_not_deadlocked(ledger: Ledger) -> None:
    before = ledger.head()
    with pytest.raises(RuntimeError, match=r"ledger.write\(\) inside ledger.write\(\): add the rows to the open writer"):
        with ledger.write("task.completed", "outer") as w:
            w.add(Run, kind="task", name="outer", params_json="{}", env_json="{}", started_at=MOMENT)
            with ledger.write("task.completed", "inner"):
                pass
    assert ledger.head() == before
    record_step(ledger, "after")  # the writer is free again
    assert ledger.head()[0] == before[0] + 1


def test_writes_reconnect_after_the_server_cut_the_connection(pg_ledger: Ledger) -> None:
    """Writes share one open connection per process: a server restart fails the write in flight
    (fail closed), and the next write opens a new connection."""
    import psycopg

    record_step(pg_ledger, "before")
    url = pg_ledger.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    with pytest.raises(DBAPIError, match="terminating connection due to administrator command"):
        record_step(pg_ledger, "cut")
    record_step(pg_ledger, "after")
    with pg_ledger.read() as conn:
        assert sorted(conn.execute(select(Run.name)).scalars()) == ["after", "before"]
    assert verify(pg_ledger).intact


def test_writer_applies_model_defaults_and_rejects_unknown_columns(ledger: Ledger) -> None:
    with ledger.write("task.completed", "run x") as w:
        run = w.add(Run, kind="task", name="x", params_json="{}", env_json="{}", started_at=MOMENT)
        with pytest.raises(ValueError, match=r"runs has no column\(s\) \['colour'\]"):
            w.add(Run, kind="task", name="y", params_json="{}", env_json="{}", started_at=MOMENT, colour="red")
        with pytest.raises(ValueError, match="prediction_payloads is not a history table"):
            w.add(PredictionPayload, payload_hash="x")
    assert run["attempt"] == 1
    with ledger.read() as conn:
        assert conn.execute(select(Run.attempt)).scalar_one() == 1


def test_every_history_table_refuses_update_and_delete(ledger: Ledger) -> None:
    with ledger.write("all.tables", "every history table") as w:
        for table in TABLES:
            w.add(MODELS[table], **sample_row(table))
    assert set(APPEND_ONLY_TABLES) == set(TABLES) | {"audit_log"}
    for table in APPEND_ONLY_TABLES:
        column = "event_type" if table == "audit_log" else "audit_seq"
        value = "'forged'" if table == "audit_log" else "99"
        assert append_only_message(table) in refusal(ledger, f"UPDATE {table} SET {column} = {value}")
        assert append_only_message(table) in refusal(ledger, f"DELETE FROM {table}")
        if not ledger.is_sqlite:
            assert append_only_message(table) in refusal(ledger, f"TRUNCATE {table}")
    assert chain_and_row_findings(ledger) == []


def test_prediction_payload_purge_needs_its_tombstone_first(ledger: Ledger) -> None:
    payload_hash = add_payload(ledger)
    assert PAYLOAD_NO_UPDATE in refusal(ledger, "UPDATE prediction_payloads SET subject_id = 'someone else'")
    assert PAYLOAD_NO_DELETE in refusal(ledger, "DELETE FROM prediction_payloads")

    def purge(expected_rows: int) -> None:
        with ledger.write("payloads.purged", "erasure request") as w:
            tomb = w.add(Purge, kind="erasure", at=MOMENT, by="dpo", reason="Art. 17 request",
                         criteria_json='{"subject_id":"person-1"}', count=1)
            w.add(PurgedPayload, purge_id=tomb["id"], payload_hash=payload_hash)
            # Runs after the tombstone rows are inserted, in the same transaction.
            w.then(delete(PredictionPayload).where(PredictionPayload.payload_hash == payload_hash), expected_rows)

    head = ledger.head()
    with pytest.raises(LedgerError) as mismatch:
        purge(expected_rows=2)
    assert str(mismatch.value) == (f"a statement after entry {head[0] + 1} affected 1 row(s), expected 2; "
                                   "the transaction was rolled back and nothing was written")
    assert ledger.head() == head
    purge(expected_rows=1)

    with ledger.read() as conn:
        assert conn.execute(select(func.count()).select_from(PredictionPayload)).scalar_one() == 0
        assert conn.execute(select(Prediction.payload_hash)).scalar_one() == payload_hash
    report = verify(ledger)
    assert report.intact, report.findings
    assert report.purged_payloads == 1


def test_verify_counts_what_it_checked(ledger: Ledger) -> None:
    for n in range(3):
        record_step(ledger, n=n)
    digest = ledger.artifacts.put(b"model card\n")
    with ledger.write("artifact.stored", "model card") as w:
        w.add(MODELS["artifacts"], kind="model_card", name="card.md", content_hash=digest,
              uri=ledger.artifacts.uri(digest), media_type="text/markdown", size=11, created_at=MOMENT)
    report = verify(ledger)
    assert report.intact, report.findings
    assert (report.entries, report.rows, report.artifacts) == (5, 3 * 10 + 1, 1)
    assert (report.head_seq, report.head_hash) == ledger.head()


def test_state_changes_are_new_rows(ledger: Ledger) -> None:
    run = record_step(ledger)["run"]
    with ledger.write("task.failed", "retry") as w:
        w.add(RunState, run_id=run["id"], state="failed", at=canon.utc_now(), error_type="ValueError",
              error_message="boom")
    with ledger.read() as conn:
        states = conn.execute(select(RunState.state).where(RunState.run_id == run["id"])
                              .order_by(RunState.audit_seq, RunState.at)).scalars().all()
    assert states == ["running", "completed", "failed"]


def test_whole_second_timestamps_compare_like_any_other(ledger: Ledger) -> None:
    """Stored timestamp text has one form (SQLite compares it as text): a whole second keeps its .000000."""
    whole = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with ledger.write("test", "timestamps") as w:
        for at in (whole, whole + timedelta(microseconds=1)):
            w.add(RunState, run_id="r", state="running", at=at)
    with ledger.read() as conn:
        found = conn.execute(select(RunState.at).where(RunState.at >= whole).order_by(RunState.at)).scalars().all()
    assert found == [whole, whole + timedelta(microseconds=1)]
