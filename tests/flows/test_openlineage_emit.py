"""Live OpenLineage emission from recorded flows: file, HTTP and console transports, and settings."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from govflow.errors import ConfigError
from govflow.flows.lineage import configure_openlineage, resolve_settings
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import DatasetVersion, Edge, Run
from govflow.governance.lineage import openlineage as ol
from tests.flows import helpers as h
from tests.lineage.openlineage.schemas import errors


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def without_client_tags(event: dict[str, Any]) -> dict[str, Any]:
    """The client adds a tag with its own version to what it emits; the ledger does not know it."""
    event = json.loads(json.dumps(event))
    tags = event["run"]["facets"].get("tags", {}).get("tags", [])
    tags[:] = [t for t in tags if t.get("source") != "OPENLINEAGE_CLIENT"]
    return event


def ledger_facts(ledger: Ledger) -> tuple[set[str], set[str]]:
    with ledger.read() as conn:
        run_ids = set(conn.execute(select(Run.id)).scalars())
        fingerprints = set(conn.execute(select(DatasetVersion.fingerprint)).scalars())
        fingerprints |= set(conn.execute(select(Edge.fingerprint).where(Edge.entity_kind.in_(("model", "file")))).scalars())
    return run_ids, fingerprints


def test_file_transport_emits_valid_events_that_agree_with_the_ledger(recorder: Ledger, tmp_path: Path,
                                                                       request: pytest.FixtureRequest) -> None:
    out = tmp_path / "lineage" / "events.jsonl"
    configure_openlineage({"transport": "file", "path": str(out)}, system="credit-scoring")
    h.prepare(20)
    h.checked(20)
    h.with_failure(20)
    h.retried(request.node.nodeid)  # plain values only, and a retry: two runs of one Prefect task run

    events = read_jsonl(out)
    for event in events:
        assert errors(event) == [], event["job"]["name"]
    run_ids, fingerprints = ledger_facts(recorder)
    assert {e["run"]["runId"] for e in events} == run_ids
    versions = {d["facets"]["version"]["datasetVersion"] for e in events for d in e["inputs"] + e["outputs"]}
    assert versions == fingerprints
    kinds = [(e["eventType"], e["job"]["name"]) for e in events]
    assert kinds[:8] == [("START", "prepare"), ("START", "prepare.load"), ("COMPLETE", "prepare.load"),
                         ("START", "prepare.clean"), ("COMPLETE", "prepare.clean"), ("START", "prepare.count_rows"),
                         ("COMPLETE", "prepare.count_rows"), ("COMPLETE", "prepare")]
    assert ("FAIL", "with-failure.explode") in kinds
    assert [k for k in kinds if k[1] == "retried.flaky"] == [("START", "retried.flaky"), ("FAIL", "retried.flaky"),
                                                             ("START", "retried.flaky"), ("COMPLETE", "retried.flaky")]
    assert {e["job"]["namespace"] for e in events} == {"govflow://credit-scoring"}
    fail = next(e for e in events if e["eventType"] == "FAIL")
    assert fail["run"]["facets"]["errorMessage"]["message"] == (
        "ValueError: cannot score 20 rows: column 'income' has negative values")
    [flow_run] = h.runs_named(recorder, "with-failure")
    assert fail["run"]["facets"]["parent"]["run"]["runId"] == flow_run["id"]
    validate_done = next(e for e in events if e["eventType"] == "COMPLETE" and e["job"]["name"] == "checked.validate")
    [frame] = validate_done["inputs"]
    assert [(a["assertion"], a["success"], a.get("column")) for a in frame["inputFacets"]["dataQualityAssertions"]["assertions"]] == [
        ("expect_column_values_to_not_be_null", True, "age"), ("expect_table_row_count_to_be_between", False, None)]

    # the ledger replayed gives the very events that were sent
    replayed = ol.replay_events(recorder, run_ids, namespace="govflow://credit-scoring")
    key = lambda e: (e["run"]["runId"], e["eventType"])  # noqa: E731
    assert sorted(map(without_client_tags, events), key=key) == sorted(replayed, key=key)


class _Marquez(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, Any]]] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, json.loads(body)))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def marquez() -> Iterator[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    """A local HTTP endpoint that takes OpenLineage events the way Marquez's API does."""
    received: list[tuple[str, dict[str, Any]]] = []
    handler = type("Handler", (_Marquez,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def test_http_transport_posts_each_event(sqlite_recorder: Ledger, marquez: tuple[str, list[Any]]) -> None:
    url, received = marquez
    configure_openlineage({"transport": "http", "url": url, "timeout": 5})
    h.prepare(10)
    assert [path for path, _ in received] == ["/api/v1/lineage"] * 8
    assert all(errors(event) == [] for _, event in received)
    run_ids, _ = ledger_facts(sqlite_recorder)
    assert {event["run"]["runId"] for _, event in received} == run_ids


def test_an_unreachable_lineage_server_does_not_fail_or_stall_the_run(
        sqlite_recorder: Ledger, caplog: pytest.LogCaptureFixture) -> None:
    emitter = configure_openlineage({"transport": "http", "url": "http://127.0.0.1:9", "timeout": 1})
    assert emitter is not None
    with caplog.at_level(logging.WARNING, logger="govflow.lineage"):
        h.prepare(5)
    assert len(h.runs_named(sqlite_recorder, "load")) == 1  # the ledger is the record
    [warning] = [r.getMessage() for r in caplog.records if r.name == "govflow.lineage"]
    assert warning.startswith("OpenLineage transport failed for prepare (")
    assert warning.endswith("); emission paused for 60 s (0 run(s) skipped before). The ledger holds every run: "
                            "replay with `govflow export NAME:VERSION --format openlineage -o FILE`")
    assert emitter.skipped == 4  # the three tasks and the flow's end, not sent, not waited for


def test_console_transport_logs_each_event(sqlite_recorder: Ledger, caplog: pytest.LogCaptureFixture) -> None:
    configure_openlineage({"transport": "console"})
    with caplog.at_level(logging.INFO, logger="openlineage.client.transport.console"):
        h.prepare(5)
    events = [json.loads(r.getMessage()) for r in caplog.records if r.name == "openlineage.client.transport.console"]
    assert [e["eventType"] for e in events] == ["START"] + ["START", "COMPLETE"] * 3 + ["COMPLETE"]


def test_off_by_default_and_the_environment_wins(sqlite_recorder: Ledger, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    assert configure_openlineage(None) is None
    configured = tmp_path / "configured.jsonl"
    override = tmp_path / "override.jsonl"
    monkeypatch.setenv("GOVFLOW_OPENLINEAGE_FILE", str(override))
    emitter = configure_openlineage({"transport": "file", "path": str(configured), "namespace": "govflow://mine"})
    assert emitter is not None and emitter.namespace == "govflow://mine"
    h.prepare(5)
    assert not configured.exists() and len(read_jsonl(override)) == 8
    monkeypatch.setenv("GOVFLOW_OPENLINEAGE", "off")
    assert configure_openlineage({"transport": "file", "path": str(configured)}) is None
    h.prepare(5)
    assert not configured.exists() and len(read_jsonl(override)) == 8


@pytest.mark.parametrize(("settings", "message"), [
    ({"transport": "kafka"}, "lineage.openlineage.transport must be one of file, http, console (got 'kafka')"),
    ({"path": "x.jsonl"}, "lineage.openlineage.transport must be one of file, http, console (got None)"),
    ({"transport": "file"}, "lineage.openlineage with transport file needs 'path'"),
    ({"transport": "http", "url": "http://m:5000", "pth": "x"},
     "lineage.openlineage has unknown key(s) pth for the http transport; allowed: api_key, endpoint, namespace, "
     "timeout, transport, url"),
])
def test_bad_settings_are_refused_with_what_to_fix(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as e:
        configure_openlineage(settings)
    assert str(e.value) == message


def test_a_bad_environment_switch_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVFLOW_OPENLINEAGE", "kafka")
    with pytest.raises(ConfigError) as e:
        resolve_settings(None)
    assert str(e.value) == ("GOVFLOW_OPENLINEAGE must be console or off (got 'kafka'); use "
                            "GOVFLOW_OPENLINEAGE_FILE or _URL for the others")


def test_a_relative_file_path_is_taken_from_the_config_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    emitter = configure_openlineage({"transport": "file", "path": "out/events.jsonl"}, system="credit-scoring",
                                    base=tmp_path / "config")
    assert emitter is not None
    assert emitter.settings["path"] == str(tmp_path / "config" / "out" / "events.jsonl")
    assert emitter.namespace == "govflow://credit-scoring"
