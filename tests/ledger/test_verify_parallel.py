"""A full verify hashes a large table in several processes, and finds exactly what one process finds."""

from __future__ import annotations

import pytest

from govflow import canonical as canon
from govflow.errors import InputError
from govflow.governance.ledger import verify_rows
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.verify import verify
from govflow.governance.trail import predictions as preds
from tests.ledger.dba import tamper


def log_batches(ledger: Ledger, batches: int, size: int) -> list[list[preds.PredictionRecord]]:
    logged = []
    for b in range(batches):
        batch = [preds.PredictionRecord(request_id=f"req-{b}-{i}", system="credit", model_version_id="mv-1",
                                        output={"decision": i % 2}, features={"x": i}, sensitive={}, latency_ms=1.0,
                                        served_at=canon.utc_now(), caller="tester") for i in range(size)]
        preds.write_predictions(ledger, batch, require_production=False)
        logged.append(batch)
    return logged


def findings(ledger: Ledger, processes: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("GOVFLOW_VERIFY_WORKERS", processes)
    report = verify(ledger)
    assert report.rows >= 5 * 40  # one batch may have been deleted
    return [str(f) for f in report.ordered()]


def test_parallel_and_serial_verify_find_the_same_tampering(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    logged = log_batches(ledger, 6, 40)
    monkeypatch.setattr(verify_rows, "PARALLEL_ROWS", 0)  # every table with rows goes parallel
    assert findings(ledger, "3", monkeypatch) == []
    tamper(ledger, "UPDATE predictions SET latency_ms = 99 WHERE id = :i", i=logged[0][3].id)
    tamper(ledger, "UPDATE predictions SET caller = 'forged' WHERE id = :i", i=logged[4][7].id)
    tamper(ledger, "DELETE FROM predictions WHERE request_id LIKE 'req-2-%'")
    serial = findings(ledger, "1", monkeypatch)
    rows = [f for f in serial if not f.endswith("no prediction refers to it: planted or left by a rewrite")]
    assert len(rows) == 4 and "all 40 row(s) recorded by this entry were removed" in rows[1]
    assert "the dashboard's hourly sums (prediction_rollup): 2 cell(s) differ" in rows[3]  # they still count the 40 (both groups)
    assert len(serial) == 4 + 40  # and the payloads of the deleted predictions, each named
    assert findings(ledger, "3", monkeypatch) == serial
    assert findings(ledger, "2", monkeypatch) == serial


def test_the_split_balances_rows_not_entries() -> None:
    claimed: dict[int, dict[str, object]] = {1: {"rows": 1}, 2: {"rows": 1}, 3: {"rows": 1000}, 4: {"rows": 1000},
                                             5: {"rows": 1000}, 6: {"rows": 1000}}
    assert verify_rows._bounds(claimed, 2) == [5]
    assert verify_rows._bounds(claimed, 4) == [4, 5, 6]
    assert verify_rows._bounds({}, 3) == []


@pytest.mark.parametrize("given", ["0", "two", "-1"])
def test_a_bad_worker_count_is_refused_saying_what_it_takes(monkeypatch: pytest.MonkeyPatch, given: str) -> None:
    monkeypatch.setenv("GOVFLOW_VERIFY_WORKERS", given)
    with pytest.raises(InputError) as caught:
        verify_rows.workers()
    assert str(caught.value) == f"GOVFLOW_VERIFY_WORKERS={given!r}: a number of processes, 1 or more (1: no parallel hashing)"
