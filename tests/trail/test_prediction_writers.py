"""The prediction writer interface: chosen by the ledger's dialect, ``portable`` on request, same result."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from govflow import canonical as canon
from govflow.errors import InputError
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import PredictionPayload
from govflow.governance.ledger.verify import verify
from govflow.governance.trail import predictions as preds
from govflow.governance.trail.prediction_writers import PostgresPredictionWriter, writer_for
from tests.web.serving.helpers import counts, put_in_production, records


def test_the_writer_follows_the_dialect_unless_portable_is_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOVFLOW_PREDICTION_WRITER", raising=False)
    assert isinstance(writer_for("postgresql"), PostgresPredictionWriter)
    assert writer_for("sqlite").name == "portable"
    assert writer_for("postgresql", "portable").name == "portable"
    monkeypatch.setenv("GOVFLOW_PREDICTION_WRITER", "Portable")
    assert writer_for("postgresql").name == "portable"


def test_an_unknown_writer_is_refused_with_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVFLOW_PREDICTION_WRITER", "fastest")
    with pytest.raises(InputError) as caught:
        writer_for("postgresql")
    assert str(caught.value) == ("GOVFLOW_PREDICTION_WRITER='fastest': not a prediction writer; use one of: auto, "
                                 "portable (auto: the fastest for the ledger's database, portable: plain INSERTs "
                                 "on any database)")


@pytest.mark.parametrize("size", [3, preds.COPY_PAYLOADS + 5])
def test_the_portable_writer_logs_the_same_batch_on_either_database(ledger: Ledger, size: int,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVFLOW_PREDICTION_WRITER", "portable")
    ref = put_in_production(ledger)
    batch = [preds.make_record(request_id="req", system=ref.system, model_version_id=ref.id, output={"decision": "good"},
                               valid=preds.ValidRecord(dict(r), {}), latency_ms=1.0,
                               served_at=canon.utc_now(), caller="tester") for r in records(size)]
    stray = preds.PredictionRecord(request_id="req-x", system=ref.system, model_version_id="mv-gone", output=1,
                                   features={}, sensitive={}, latency_ms=1.0, served_at=batch[0].served_at,
                                   caller="tester")
    before = counts(ledger)
    receipt = preds.write_predictions(ledger, [stray, *batch], versions={"mv-gone": "x:1"})
    assert receipt.written == size and set(receipt.refused) == {stray.id}
    assert counts(ledger) == (before[0] + size, before[1] + size, before[2] + 1)
    with ledger.read() as conn:
        stored = set(conn.execute(select(PredictionPayload.payload_hash)).scalars())
    assert {r.payload_hash for r in batch} <= stored and stray.payload_hash not in stored
    assert verify(ledger).intact
