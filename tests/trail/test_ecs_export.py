"""ECS field names in serve's logs and in the bulk export; the export loads as valid bulk-API pairs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from govflow import canonical as canon
from govflow.cli.main import app
from govflow.governance.access import tokens
from govflow.governance.ledger.engine import Ledger
from govflow.governance.trail import ecs, retention
from govflow.governance.trail.bulk_export import bulk_lines
from tests.trail.explain_helpers import config_with, in_production, requests, serve

# Field names defined by the Elastic Common Schema (8.x reference) that govflow writes. ``labels.*``
# (keywords) and the custom namespace ``govflow.*`` are the schema's places for the rest.
ECS_FIELDS = {
    "@timestamp", "message", "ecs.version", "log.level", "log.logger",
    "event.action", "event.kind", "event.dataset", "event.module", "event.id", "event.duration", "event.sequence",
    "event.hash", "event.outcome",
    "service.name", "service.version", "service.type",
    "http.response.status_code", "http.request.id", "http.request.method", "url.path", "user.name",
    "error.type", "error.message", "error.stack_trace",
}
EVENT_KINDS = {"alert", "enrichment", "event", "metric", "state", "pipeline_error", "signal"}
OUTCOMES = {"failure", "success", "unknown"}
GOVFLOW = str(Path(sys.executable).with_name("govflow"))


def flat(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and not name.startswith(("labels", "govflow")):
            out.update(flat(value, name + "."))
        else:
            out[name] = value
    return out


def assert_ecs(doc: dict[str, Any]) -> dict[str, Any]:
    fields = flat(doc)
    foreign = {f for f in fields if f not in ECS_FIELDS and f not in ("labels", "govflow")}
    assert not foreign, f"not ECS names: {sorted(foreign)}"
    assert all(isinstance(v, str) for v in doc.get("labels", {}).values()), doc["labels"]  # labels are keywords
    assert fields["event.kind"] in EVENT_KINDS
    assert fields.get("event.outcome", "unknown") in OUTCOMES
    assert fields["@timestamp"].endswith(("Z", "+00:00"))
    return fields


def test_the_log_processor_writes_ecs_names() -> None:
    processor = ecs.ecs_fields("govflow-serve")
    doc = processor(None, "info", {"event": "predict", "level": "info", "timestamp": "2026-12-07T10:00:00.123456Z",
                                   "status": 422, "ms": 3.25, "request_id": "r-1", "system": "credit-scoring",
                                   "records": 2, "fields_at_fault": ["age"], "caller": "frontend"})
    fields = assert_ecs(doc)
    assert fields["event.action"] == "predict" and fields["message"] == "predict"
    assert (fields["http.response.status_code"], fields["event.outcome"]) == (422, "failure")
    assert fields["event.duration"] == 3_250_000  # nanoseconds
    assert doc["labels"] == {"system": "credit-scoring"} and doc["govflow"] == {"records": 2, "fields_at_fault": ["age"]}
    assert (fields["http.request.id"], fields["user.name"]) == ("r-1", "frontend")


def test_serve_logs_ecs_json_lines(sqlite_ledger: Ledger, tmp_path: Path) -> None:
    in_production(sqlite_ledger, config_with())
    operator, _ = tokens.create_token(sqlite_ledger, role="operator", label="frontend", created_by="t")
    port = 18000 + os.getpid() % 1000
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([GOVFLOW, "--home", str(sqlite_ledger.home), "serve", "--port", str(port)],
                                   stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "GOVFLOW_HOME": str(sqlite_ledger.home)})
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.3)
            answer = httpx.post(f"http://127.0.0.1:{port}/predict/credit-scoring", json=requests(1)[0],
                                headers={"Authorization": f"Bearer {operator}", "X-Request-ID": "ecs-test-1"}, timeout=60)
            assert answer.status_code == 200, answer.text
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    assert lines, log_path.read_text()[:2000]
    for doc in lines:
        assert_ecs(doc)
    predict = next(d for d in lines if d["event"]["action"] == "predict")
    assert predict["http"] == {"response": {"status_code": 200}, "request": {"id": "ecs-test-1"}}
    assert predict["service"]["name"] == "govflow-serve" and predict["labels"]["system"] == "credit-scoring"


def bulk(ledger: Ledger, **kwargs: Any) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    with ledger.read() as conn:
        lines = list(bulk_lines(conn, since=canon.utc_now() - timedelta(days=1), **kwargs))
    assert len(lines) % 2 == 0
    pairs = []
    for action_line, doc_line in zip(lines[::2], lines[1::2]):
        assert "\n" not in action_line and "\n" not in doc_line
        action, doc = json.loads(action_line), json.loads(doc_line)
        assert list(action) == ["index"] and set(action["index"]) == {"_index", "_id"}
        assert action["index"]["_id"] == doc["event"]["id"]
        pairs.append((action, doc))
    return pairs


def test_the_export_is_bulk_pairs_with_inputs_only_where_allowed(sqlite_ledger: Ledger) -> None:
    in_production(sqlite_ledger, config_with(redact=["credit_amount"]))
    logged = serve(sqlite_ledger, 4)
    retention.erase_subject(sqlite_ledger, "person-2", reason="art. 17", by="dpo")
    pairs = bulk(sqlite_ledger)
    assert [a["index"]["_id"] for a, _ in pairs] == [pid for pid, _ in logged]  # oldest first, each once
    for (action, doc), (_, output) in zip(pairs, logged):
        assert action["index"]["_index"] == "govflow-predictions"
        fields = assert_ecs(doc)
        assert (fields["service.name"], fields["service.version"]) == ("credit-scoring", "1")
        assert doc["govflow"]["output"] == output
    inputs = [doc["govflow"].get("input") for _, doc in pairs]
    assert inputs[2] is None and pairs[2][1]["govflow"]["input_withheld"] == "purged"
    assert inputs[0]["features"]["credit_amount"].startswith("hmac-sha256:")  # redacted as stored
    assert inputs[0]["sensitive"] == requests(1)[0]["sensitive"]
    later = bulk(sqlite_ledger, now=canon.utc_now() + timedelta(days=184))  # past the 183-day retention
    assert all(doc["govflow"]["input_withheld"] in ("purged", "past retention") for _, doc in later)


def test_the_cli_writes_the_export(ledger: Ledger, tmp_path: Path) -> None:
    in_production(ledger, config_with())
    logged = serve(ledger, 3)
    out = tmp_path / "trail.ndjson"
    since = canon.format_ts(canon.utc_now() - timedelta(hours=1))
    url = ledger.engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(app, ["--home", str(ledger.home), "--db", url, "predictions", "export",
                                      "--since", since, "--format", "ndjson", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"wrote 3 predictions (6 bulk lines) to {out}"
    lines = out.read_text().splitlines()
    assert [json.loads(line)["index"]["_id"] for line in lines[::2]] == [pid for pid, _ in logged]
    bad = CliRunner().invoke(app, ["--home", str(ledger.home), "--db", url, "predictions", "export",
                                   "--since", since, "--format", "csv"])
    assert str(bad.exception) == "--format csv: unknown; the one format is ndjson (Elasticsearch/OpenSearch bulk-API lines)"


@pytest.mark.parametrize("since", ["last week", "2026-01-01"])
def test_the_export_refuses_a_time_without_a_zone(sqlite_ledger: Ledger, since: str) -> None:
    result = CliRunner().invoke(app, ["--home", str(sqlite_ledger.home), "predictions", "export", "--since", since])
    assert str(result.exception).startswith("since: an RFC 3339 time with a zone")


def test_the_shipper_examples_read_serve_log_lines_as_they_are() -> None:
    import yaml

    folder = Path(__file__).resolve().parents[2] / "deployments" / "logging"
    filebeat = yaml.safe_load((folder / "filebeat.yml").read_text())
    (source,) = filebeat["filebeat.inputs"]
    assert source["parsers"] == [{"ndjson": {"target": "", "overwrite_keys": True, "add_error_key": True}}]
    vector = yaml.safe_load((folder / "vector.yaml").read_text())
    assert vector["sinks"]["elasticsearch"]["inputs"] == ["govflow_ecs"]
    assert vector["transforms"]["govflow_ecs"]["inputs"] == list(vector["sources"])
    assert source["paths"] == vector["sources"]["govflow_serve"]["include"]  # the same file, both ways


def test_govflow_export_predictions_is_the_same_export(sqlite_ledger: Ledger, tmp_path: Path) -> None:
    in_production(sqlite_ledger, config_with())
    logged = serve(sqlite_ledger, 2)
    since = canon.format_ts(canon.utc_now() - timedelta(hours=1))
    home = ["--home", str(sqlite_ledger.home)]
    result = CliRunner().invoke(app, [*home, "export", "predictions", "--since", since, "--format", "ndjson"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [json.loads(line)["index"]["_id"] for line in lines[::2]] == [pid for pid, _ in logged]
    missing = CliRunner().invoke(app, [*home, "export", "predictions", "--format", "ndjson"])
    assert str(missing.exception) == ("export predictions: --since is required (RFC 3339 with a zone, "
                                      "e.g. 2026-12-01T00:00:00Z)")
    no_file = CliRunner().invoke(app, [*home, "export", "credit-scoring:1", "--format", "prov"])
    assert str(no_file.exception) == "export credit-scoring:1: -o FILE is required (the file to write)"
