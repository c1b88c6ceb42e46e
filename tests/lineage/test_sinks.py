"""Lineage sinks: chosen by configuration, with a harmless default."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from govflow.errors import ConfigError
from govflow.governance.ledger.runs import RunRecord
from govflow.governance.lineage import openlineage as ol
from govflow.governance.lineage.sinks import ClientSink, LineageSink, NullSink, sink_for


def event() -> object:
    rec = RunRecord(run_id="0190b6a8-0000-7000-8000-000000000001", kind="task", name="load",
                    started_at=datetime(2026, 12, 7, 12, 0, tzinfo=UTC), state="completed",
                    ended_at=datetime(2026, 12, 7, 12, 0, 1, tzinfo=UTC))
    return ol.build_event(rec, "COMPLETE", ol.RunContext(namespace="govflow://test", job="load", parent=None, root=None))


def test_no_settings_means_a_sink_that_sends_nothing() -> None:
    sink = sink_for(None)
    assert isinstance(sink, NullSink) and isinstance(sink, LineageSink)
    sink.emit(event())
    sink.close()


def test_the_file_sink_writes_one_event_per_line(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "events.jsonl"
    sink = sink_for({"transport": "file", "path": str(out)})
    assert isinstance(sink, ClientSink) and isinstance(sink, LineageSink)
    sink.emit(event())
    sink.emit(event())
    sink.close()
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(e["eventType"], e["job"]["name"]) for e in lines] == [("COMPLETE", "load")] * 2


def test_an_unknown_sink_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ConfigError) as refused:
        sink_for({"transport": "kafka"})
    assert str(refused.value) == "lineage.openlineage.transport must be one of file, http, console (got 'kafka')"
