"""The group commit through a writer process (the default on PostgreSQL): same records, same receipts,
503 when it cannot write, a dead writer replaced, nothing left running after the server stops."""

from __future__ import annotations

import os
import signal

import pytest
from fastapi.testclient import TestClient

from govflow import canonical as canon
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.verify import verify
from govflow.governance.registry.versions import VersionRef
from govflow.governance.trail import predictions as preds
from govflow.web.app import create_app
from govflow.web.writer_process import WRITER_GONE, WriterError, WriterProcess
from tests.web.serving.helpers import counts, records, suspend

PREDICT = "/predict/credit-scoring"


def test_requests_are_committed_by_the_writer_process(served: tuple[Ledger, VersionRef]) -> None:
    ledger, _ = served
    before = counts(ledger)
    app = create_app(ledger, writer_process=True)
    with TestClient(app, client=("127.0.0.1", 50000)) as client:
        writer = app.state.govflow.committer.writer
        assert writer is not None and writer.process.is_alive() and writer.process.pid != os.getpid()
        assert app.state.govflow.scorer.yield_to is None  # no GIL shared with the commits: no need to make way
        answers = [client.post(PREDICT, json=batch) for batch in (records(1)[0], records(7), records(1, start=3)[0])]
        assert [a.status_code for a in answers] == [200, 200, 200]
        assert all(a.json()["recorded"] for a in answers)
        process = writer.process
    assert not process.is_alive()  # stopped with the server
    assert counts(ledger)[:2] == (before[0] + 9, before[1] + 9)
    assert verify(ledger).intact


def test_the_default_writer_is_a_process_on_postgresql_only(sqlite_ledger: Ledger) -> None:
    assert create_app(sqlite_ledger).state.govflow.committer.writer is None
    assert create_app(sqlite_ledger, writer_process=True).state.govflow.committer.writer is not None


def record(ref: VersionRef) -> preds.PredictionRecord:
    return preds.make_record(request_id="r1", system=ref.system, model_version_id=ref.id, output={"decision": 1},
                             valid=preds.ValidRecord({"x": 1}, {}), latency_ms=1.0, served_at=canon.utc_now(),
                             caller="tester")


def test_a_version_out_of_production_is_refused_through_the_writer(served: tuple[Ledger, VersionRef]) -> None:
    ledger, ref = served
    writer = WriterProcess(ledger)
    try:
        assert writer.write([record(ref)], {ref.id: str(ref)}).written == 1
        suspend(ledger, ref)
        refused = writer.write([record(ref)], {ref.id: str(ref)})
        assert refused.written == 0 and list(refused.refused.values()) == [
            "credit-scoring:1 is no longer in production (now suspended); nothing was served: retry"]
    finally:
        writer.stop()


def test_a_writer_that_cannot_write_answers_why_and_a_dead_one_is_replaced(served: tuple[Ledger, VersionRef]) -> None:
    ledger, ref = served
    broken = WriterProcess(ledger)
    broken.url = "postgresql://nobody@127.0.0.1:1/nothing"  # no server there
    try:
        with pytest.raises(WriterError) as caught:
            broken.write([record(ref)], {})
        assert str(caught.value).startswith("cannot reach the ledger database at postgresql://nobody@127.0.0.1:1/nothing")
    finally:
        broken.stop()

    app = create_app(ledger, writer_process=True)
    with TestClient(app, client=("127.0.0.1", 50000)) as client:
        writer = app.state.govflow.committer.writer
        assert client.post(PREDICT, json=records(1)[0]).status_code == 200
        first = writer.process.pid
        os.kill(first, signal.SIGKILL)
        writer.process.join(10)
        again = client.post(PREDICT, json=records(1)[0])  # between batches: a new writer takes over
        assert again.status_code == 200, again.text
        assert writer.process.pid != first


def test_a_writer_killed_during_a_batch_answers_503_never_200(served: tuple[Ledger, VersionRef],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    ledger, _ = served
    app = create_app(ledger, writer_process=True)
    with TestClient(app, client=("127.0.0.1", 50000)) as client:
        writer = app.state.govflow.committer.writer
        assert client.post(PREDICT, json=records(1)[0]).status_code == 200
        send = writer.pipe.send

        def die_then_send(message: object) -> None:  # the child dies as the batch goes out, before writing it
            os.kill(writer.process.pid, signal.SIGKILL)
            writer.process.join(10)
            send(message)

        monkeypatch.setattr(writer.pipe, "send", die_then_send)
        response = client.post(PREDICT, json=records(1)[0])
        assert response.status_code == 503
        assert response.json()["detail"] == (f"the prediction could not be recorded in the ledger ({WRITER_GONE}); "
                                             "nothing was served: retry later")
        monkeypatch.undo()
        assert client.post(PREDICT, json=records(1)[0]).status_code == 200  # and the next batch is written
