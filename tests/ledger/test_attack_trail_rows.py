"""Attack: an insider edits any column of the trail's chained tables behind the ledger.

``predictions`` (which payload, which version, what was answered, when), ``outcomes`` (the true label
attached to a decision), and an erasure's tombstone (``purges``, ``purged_payloads``): each is a
history table, every column of every row is in the row hash its audit entry covers, so `verify`
names the table whatever column was changed. (``prediction_payloads``, the one unchained table, is
held by its payload hash: see test_attack_subject_ids.)
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest

from govflow import canonical as canon
from govflow.governance.ledger.engine import COLUMN_KINDS, Ledger
from govflow.governance.ledger.verify import verify
from govflow.governance.trail import predictions as preds
from govflow.governance.trail import retention
from govflow.governance.trail.outcomes import attach_outcomes
from tests.ledger.dba import tamper

FORGED = {"str": "forged", "int": 7777, "float": 999.5, "dt": datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)}
COLUMNS = [(table, column, kind) for table in ("predictions", "outcomes", "purges", "purged_payloads")
           for column, kind in COLUMN_KINDS[table]]


def trail(ledger: Ledger) -> None:
    """Two decisions, an outcome for the first, the second's payload erased."""
    batch = [preds.PredictionRecord(request_id=f"req-{i}", system="credit", model_version_id="mv-1",
                                    output={"decision": "good"}, features={"age": 40 + i}, sensitive={"sex": "f"},
                                    latency_ms=1.0, served_at=canon.utc_now(), caller="tester",
                                    subject_id=f"person-{i}") for i in range(2)]
    preds.write_predictions(ledger, batch, require_production=False)
    attach_outcomes(ledger, system="credit", frame=pd.DataFrame({"prediction_id": [batch[0].id], "label": ["bad"]}),
                    target="creditability", id_column=None)
    retention.erase_subject(ledger, "person-1", reason="DSR-1")


@pytest.mark.parametrize(("table", "column", "kind"), COLUMNS, ids=[f"{t}.{c}" for t, c, _ in COLUMNS])
def test_any_column_of_the_trail_changed_is_caught(ledger: Ledger, table: str, column: str, kind: str) -> None:
    trail(ledger)
    assert verify(ledger).intact
    value: Any = FORGED[kind]
    if column == "audit_seq":
        value = 1  # moved under the genesis entry, which recorded no such row
    tamper(ledger, f"UPDATE {table} SET {column} = :v WHERE id = (SELECT min(id) FROM {table})", v=value)
    report = verify(ledger)
    assert any(f.record == f"table {table}" for f in report.findings), report.findings
