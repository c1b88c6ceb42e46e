"""Every task of a flow is in the ledger: runs, states, edges by content, errors, retries, checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from govflow.errors import LedgerError
from govflow.flows.recording import UNRECORDED, flush_artifacts, set_ledger
from govflow.flows.recording_publish import _Outgoing, default_publisher
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.fingerprint import fingerprint_frame
from tests.flows import helpers as h


def test_every_task_is_recorded_with_its_edges(recorder: Ledger) -> None:
    frame = h.prepare(30)

    [flow_run] = h.runs_named(recorder, "prepare")
    [load], [clean], [count] = (h.runs_named(recorder, n) for n in ("load", "clean", "count_rows"))
    for task_run in (load, clean, count):
        assert task_run["kind"] == "task"
        assert task_run["parent_run_id"] == flow_run["id"]
        assert task_run["root_run_id"] == flow_run["id"]
        assert task_run["attempt"] == 1
        assert json.loads(task_run["env_json"])["prefect"]
        assert task_run["code_ref"] and task_run["source_hash"]
        assert [s["state"] for s in h.states(recorder, task_run["id"])] == ["running", "completed"]
    assert flow_run["root_run_id"] == flow_run["id"] and flow_run["parent_run_id"] is None
    assert [s["state"] for s in h.states(recorder, flow_run["id"])] == ["running", "completed"]
    assert json.loads(load["params_json"]) == {"n": 30}

    # load's output is clean's input: the same content, the same dataset_versions row.
    [loaded] = h.edges(recorder, load["id"], "output")
    [clean_in] = h.edges(recorder, clean["id"], "input")
    [cleaned] = h.edges(recorder, clean["id"], "output")
    [count_in] = h.edges(recorder, count["id"], "input")
    assert (clean_in["fingerprint"], clean_in["entity_id"]) == (loaded["fingerprint"], loaded["entity_id"])
    assert (count_in["fingerprint"], count_in["entity_id"]) == (cleaned["fingerprint"], cleaned["entity_id"])
    assert cleaned["fingerprint"] == fingerprint_frame(frame)
    [row] = h.dataset(recorder, cleaned["fingerprint"])
    assert (row["id"], row["name"], row["row_count"], row["produced_by_run_id"]) == (
        cleaned["entity_id"], "clean.return", 29, clean["id"])
    assert json.loads(row["schema_json"]) == [["age", "int64"], ["income", "float64"], ["label", "object"]]
    assert (clean_in["role"], clean_in["entity_kind"], cleaned["role"]) == ("frame", "dataset", "return")
    # plain parameters are edges too, by value, but never data sets
    [n_edge] = h.edges(recorder, load["id"], "input")
    assert (n_edge["role"], n_edge["entity_kind"], n_edge["entity_id"]) == ("n", "value", None)


def test_the_same_frame_in_a_later_flow_is_the_same_dataset(recorder: Ledger) -> None:
    frame = h.prepare(30)
    assert h.consume(frame) == 29

    [first, second] = h.runs_named(recorder, "count_rows")
    [a], [b] = h.edges(recorder, first["id"], "input"), h.edges(recorder, second["id"], "input")
    assert a["fingerprint"] == b["fingerprint"] == fingerprint_frame(frame)
    assert a["entity_id"] == b["entity_id"]
    assert len(h.dataset(recorder, a["fingerprint"])) == 1
    [consume_flow] = h.runs_named(recorder, "consume")
    [flow_in] = h.edges(recorder, consume_flow["id"], "input")
    assert flow_in["entity_id"] == a["entity_id"]
    assert second["root_run_id"] == consume_flow["id"] != first["root_run_id"]


def test_a_failing_task_is_recorded_failed_with_its_error(recorder: Ledger) -> None:
    assert h.with_failure(12) == "FAILED"

    [run] = h.runs_named(recorder, "explode")
    final = h.states(recorder, run["id"])[-1]
    assert (final["state"], final["error_type"], final["error_message"]) == (
        "failed", "ValueError", "cannot score 12 rows: column 'income' has negative values")
    assert h.edges(recorder, run["id"], "output") == []
    [flow_run] = h.runs_named(recorder, "with-failure")
    assert h.states(recorder, flow_run["id"])[-1]["state"] == "completed"  # the flow chose to go on


def test_a_failing_flow_is_recorded_failed(recorder: Ledger) -> None:
    with pytest.raises(ValueError, match="cannot score 5 rows"):
        h.failing_flow(5)
    [flow_run] = h.runs_named(recorder, "failing-flow")
    final = h.states(recorder, flow_run["id"])[-1]
    assert (final["state"], final["error_type"]) == ("failed", "ValueError")
    assert final["error_message"] == "cannot score 5 rows: column 'income' has negative values"


def test_a_retry_is_recorded_as_a_second_attempt(recorder: Ledger, request: pytest.FixtureRequest) -> None:
    assert h.retried(request.node.nodeid) == "ok"

    first, second = h.runs_named(recorder, "flaky")
    assert (first["attempt"], second["attempt"]) == (1, 2)
    assert first["prefect_run_id"] == second["prefect_run_id"]
    assert first["id"] != second["id"]
    one, two = h.states(recorder, first["id"])[-1], h.states(recorder, second["id"])[-1]
    assert (one["state"], one["error_type"], one["error_message"]) == ("failed", "ConnectionError", "feature store timed out")
    assert two["state"] == "completed"


def test_check_results_returned_by_a_task_land_in_check_results(recorder: Ledger) -> None:
    suite = h.checked(40)
    assert suite.passed  # only a warning failed

    [run] = h.runs_named(recorder, "validate")
    got = h.checks(recorder, run["id"])
    assert [(c["kind"], c["name"], c["subject"], c["passed"], json.loads(c["observed_json"]),
             json.loads(c["threshold_json"]), c["severity"], json.loads(c["details_json"])) for c in got] == [
        ("validation", "expect_column_values_to_not_be_null", "age", 1, 0.0, 0.0, "critical", {}),
        ("validation", "expect_table_row_count_to_be_between", "table", 0, 40.0, 1000.0, "warning", {"min_value": 1000}),
        ("fairness", "selection_rate", "label=bad", None, None, 30.0, "warning", {"reason": "group too small"}),
    ]
    # and the flow's run history in Prefect shows them as a table artifact
    [flow_run] = h.runs_named(recorder, "checked")
    with get_client(sync_client=True) as client:
        artifacts = h.poll(lambda: [a for a in client.read_artifacts(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run["prefect_run_id"]]))) if a.type == "table"],
            what="the check results table artifact")
    table = artifacts[0].data if isinstance(artifacts[0].data, list) else json.loads(str(artifacts[0].data))
    assert [(r["result"], r["check"], r["subject"], r["observed"], r["bound"]) for r in table] == [  # failures first
        ("FAIL (warning)", "validation: expect_table_row_count_to_be_between", "table", "40", "1000"),
        ("not judged", "fairness: selection_rate", "label=bad", None, "30"),
        ("PASS", "validation: expect_column_values_to_not_be_null", "age", "0", "0")]
    assert artifacts[0].key == "govflow-checked-checks"


def test_prefect_run_ids_in_the_ledger_are_prefect_own(recorder: Ledger) -> None:
    h.prepare(10)
    [flow_run] = h.runs_named(recorder, "prepare")
    tasks = {r["prefect_run_id"]: r for n in ("load", "clean", "count_rows") for r in h.runs_named(recorder, n)}

    with get_client(sync_client=True) as client:
        prefect_flow = client.read_flow_run(flow_run["prefect_run_id"])
        # Prefect records task runs asynchronously: poll until all three are there.
        task_runs = h.poll(lambda: (lambda found: found if len(found) == 3 else None)(client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[prefect_flow.id])))),
            what="Prefect to record the 3 task runs")
        artifacts = h.poll(lambda: client.read_artifacts(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[prefect_flow.id]))), what="the flow's artifacts")

    assert prefect_flow.name and prefect_flow.flow_id
    assert {str(t.id) for t in task_runs} == set(tasks)
    for t in task_runs:
        ledger_run = tasks[str(t.id)]
        assert t.name.startswith(f"{ledger_run['name']}-")
        assert ledger_run["prefect_flow_run_id"] == str(t.flow_run_id) == flow_run["prefect_run_id"]
    summary = next(a for a in artifacts if a.type == "markdown")
    assert f"ledger run id: `{flow_run['id']}`" in str(summary.data)


def test_artifacts_are_published_off_the_flow_and_flushed_before_exit(recorder: Ledger) -> None:
    """The flow returns without waiting for the Prefect API; `flush_artifacts` waits for what is queued
    (the CLI's exit does too), after which the artifacts are there without polling."""
    h.prepare(12)
    [flow_run] = h.runs_named(recorder, "prepare")
    assert flush_artifacts(timeout=30)
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run["prefect_run_id"]])))
    assert [a.key for a in artifacts] == ["govflow-prepare"]
    assert f"ledger run id: `{flow_run['id']}`" in str(artifacts[0].data)


def test_an_unreachable_prefect_api_costs_the_artifacts_only(caplog: pytest.LogCaptureFixture) -> None:
    """The UI view is a convenience: when the API cannot take it, a warning, and nothing waits on it."""
    from prefect.client.schemas.actions import ArtifactCreate

    request = ArtifactCreate(type="markdown", data="# lost", key="govflow-lost", description="never lands")
    with caplog.at_level("WARNING", logger="govflow.recording"):
        default_publisher()._enqueue(_Outgoing("http://127.0.0.1:9/api", (None, None, None), [request]))
        assert flush_artifacts(timeout=60)
    assert any(r.message.startswith("could not publish Prefect artifacts:") for r in caplog.records)


def test_a_ledger_outage_fails_the_task(pg_url: str, tmp_path: Path) -> None:
    """The ledger's database disappears in the middle of a flow: the next task cannot be recorded."""
    ledger = Ledger.open(pg_url, home=tmp_path / "home")
    set_ledger(ledger)
    try:
        with pytest.raises(LedgerError) as flow_error:
            h.outage(_admin_url(pg_url), str(ledger.engine.url.database))
    finally:
        set_ledger(None)
        ledger.close()
    task_error = h.OUTCOME["outage"]
    assert isinstance(task_error, LedgerError)
    head, _, tail = UNRECORDED.partition("{error}")
    assert str(task_error).startswith(head.format(kind="task", name="drop_the_ledger"))
    assert str(task_error).endswith(tail.format(kind="task"))
    # The driver's own reason: the open write connection was cut, or a new one found no database.
    assert ("terminating connection due to administrator command" in str(task_error)
            or f'database "{ledger.engine.url.database}" does not exist' in str(task_error))
    assert str(flow_error.value).startswith(head.format(kind="flow", name="outage"))


def _admin_url(pg_url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(pg_url).set(database="postgres").render_as_string(hide_password=False)


def test_a_deleted_sqlite_ledger_fails_the_task(tmp_path: Path) -> None:
    ledger = Ledger.open(home=tmp_path / "home")
    set_ledger(ledger)
    try:
        with pytest.raises(LedgerError):
            h.folder_outage(str(tmp_path / "home"))
    finally:
        set_ledger(None)
        ledger.close()
    assert isinstance(h.OUTCOME["folder_outage"], LedgerError)
    assert "was removed or replaced while govflow had it open" in str(h.OUTCOME["folder_outage"])
