"""The recorder is handed its ledger and its sinks (#14 item 3), and an OpenLineage emitter its lineage sink."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from govflow.flows.lineage import OpenLineageEmitter
from govflow.flows.recorder import Recorder, using
from govflow.flows.recording import flow, task
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.runs import RunRecord
from govflow.governance.ledger.schema import Run


class Collected:
    """A lineage sink that keeps what it is sent."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.closed = False

    def emit(self, event: Any) -> None:
        self.events.append(event)

    def close(self) -> None:
        self.closed = True


def run_names(ledger: Ledger) -> list[str]:
    with ledger.read() as conn:
        return sorted(conn.execute(select(Run.name)).scalars())


def test_a_task_records_into_the_ledger_and_sinks_it_is_handed(sqlite_ledger: Ledger) -> None:
    seen: list[tuple[str, str]] = []
    recorder = Recorder(sqlite_ledger, sinks=[lambda event, rec: seen.append((event, rec.name))])

    @task(recorder=recorder)
    def double(x: int) -> int:
        return 2 * x

    assert double.fn(21) == 42
    assert seen == [("COMPLETE", "double")]
    assert run_names(sqlite_ledger) == ["double"]


def test_steps_called_under_using_record_through_that_recorder(sqlite_ledger: Ledger) -> None:
    records: list[RunRecord] = []
    recorder = Recorder(sqlite_ledger, sinks=[lambda event, rec: records.append(rec)])

    @task
    def inc(x: int) -> int:
        return x + 1

    @flow(name="handed")
    def handed(x: int) -> int:
        return inc(x)

    with using(recorder):
        assert handed(1) == 2
    assert [(r.kind, r.name, r.state) for r in records] == [
        ("flow", "handed", "running"), ("task", "inc", "completed"), ("flow", "handed", "completed")]
    assert run_names(sqlite_ledger) == ["handed", "inc"]


def test_an_emitter_sends_through_the_lineage_sink_it_is_handed(sqlite_ledger: Ledger) -> None:
    sink = Collected()
    emitter = OpenLineageEmitter(sink, "govflow://test", {}, lambda: sqlite_ledger)
    recorder = Recorder(sqlite_ledger, sinks=[emitter])

    @task(recorder=recorder)
    def echo(text: str) -> str:
        return text

    echo.fn("hello")
    assert [e.eventType.value for e in sink.events] == ["START", "COMPLETE"]
    assert {e.job.name for e in sink.events} == {"echo"} and {e.job.namespace for e in sink.events} == {"govflow://test"}
    emitter.close()
    assert sink.closed
