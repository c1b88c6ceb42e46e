"""What a gate's Prefect run shows in the UI, read back from the Prefect API (#18 item 1).

One blocked gate of the demo system (default policy) under the session's ephemeral API; then:
its Logs tab holds govflow's own step lines (flow, each task, the decision and every reason), a
task run's Logs tab its own line; and its checks artifact puts the failures first, rounds numbers
for people, shows the observed value and its bound near the start, and links the documents the gate
wrote (their files in the artifact store).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from govflow.flows import run_log
from govflow.flows.gate import GateOutcome, gate_flow
from govflow.flows.recording import flush_artifacts, set_ledger
from govflow.flows.train import train_flow
from govflow.governance.ledger.engine import Ledger
from tests.flows.helpers import poll
from tests.gate.conftest import DEFAULT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def blocked_gate(tmp_path_factory: pytest.TempPathFactory, prefect_harness: None) -> Iterator[tuple[Ledger, GateOutcome, Any]]:
    ledger = Ledger.open(home=tmp_path_factory.mktemp("home"))
    set_ledger(ledger)
    try:
        train_flow(str(DEFAULT))
        outcome = gate_flow(str(DEFAULT), "latest")
        run_log.flush()
        flush_artifacts()
        yield ledger, outcome, _latest_run("gate")
    finally:
        set_ledger(None)
        ledger.close()


def _latest_run(flow: str) -> Any:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[flow])),
                                     sort=FlowRunSort.START_TIME_DESC, limit=1)[0]


def _logs(**ids: Any) -> list[str]:
    """The messages the API holds for a flow run (``flow_run_id=``) or a task run (``task_run_id=``)."""
    from prefect import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId, LogFilterTaskRunId

    key, value = next(iter(ids.items()))
    chosen = (LogFilter(flow_run_id=LogFilterFlowRunId(any_=[value])) if key == "flow_run_id"
              else LogFilter(task_run_id=LogFilterTaskRunId(any_=[value])))
    with get_client(sync_client=True) as client:
        return [log.message for log in client.read_logs(log_filter=chosen, limit=200)]


def test_the_gate_runs_logs_tab_holds_govflows_step_lines(blocked_gate: tuple[Ledger, GateOutcome, Any]) -> None:
    _, outcome, run = blocked_gate
    def complete() -> list[str] | None:
        found = _logs(flow_run_id=run.id)
        return found if any(m.startswith("flow completed") for m in found) else None

    lines = poll(complete, timeout=30, what="the gate's log lines in the Prefect API")
    assert any(m.startswith("flow started flow=gate ledger_run=") for m in lines), lines
    assert any(m.startswith("task completed task=assess_model_fairness ") and " failed=" in m for m in lines), lines
    assert any(m.startswith("fairness checked passed=") for m in lines), lines
    assert f"gate BLOCK version={outcome.version} reasons={len(outcome.reasons)}" in lines
    for reason in outcome.reasons:
        assert f"reason text={reason!r}" in lines


def test_the_train_runs_logs_tab_names_the_candidate(blocked_gate: tuple[Ledger, GateOutcome, Any]) -> None:
    lines = _logs(flow_run_id=_latest_run("train").id)
    registered = [m for m in lines if m.startswith("candidate registered version=credit-scoring:1 ")]
    assert len(registered) == 1 and " roc_auc=" in registered[0], lines
    assert any(m.startswith("task completed task=fit_model ") for m in lines), lines


def test_a_task_runs_logs_tab_holds_its_own_line(blocked_gate: tuple[Ledger, GateOutcome, Any]) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    _, _, run = blocked_gate
    with get_client(sync_client=True) as client:
        tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])))
    fairness = next(t for t in tasks if t.name.startswith("assess_model_fairness"))
    lines = _logs(task_run_id=fairness.id)
    ours = [m for m in lines if m.startswith("task ")]
    assert len(ours) == 1 and ours[0].startswith("task completed task=assess_model_fairness seconds="), lines
    assert " checks=" in ours[0] and " failed=" in ours[0] and " ledger_run=" in ours[0]


def _artifact(run: Any, key: str) -> Any:
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]),
                                                                     key=ArtifactFilterKey(any_=[key])))
    return found[0] if found else None


def test_the_checks_artifact_reads_failures_first_rounded_with_bounds(blocked_gate: tuple[Ledger, GateOutcome, Any]) -> None:
    _, _, run = blocked_gate
    artifact = poll(lambda: _artifact(run, "govflow-gate-checks"), timeout=30, what="the checks artifact")
    table = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
    assert list(table[0])[:4] == ["result", "observed", "bound", "check"]
    results = [row["result"] for row in table]
    failed = results.count("FAIL")
    assert failed >= 1 and results[:failed] == ["FAIL"] * failed  # failures first
    assert "PASS" in results and results.index("PASS") > failed
    eo = next(r for r in table if r["check"] == "fairness: equalized_odds_difference" and r["result"] == "FAIL")
    assert eo["bound"] == "≤ 0.1"
    assert len(eo["observed"].split(".")[1]) <= 3, eo  # rounded for people: 0.163, not 0.16312...
    assert any(r["bound"] == "≥ 0.8" for r in table)  # the disparate impact ratio's bound, its direction shown


def test_the_decision_artifact_links_the_documents_the_gate_wrote(blocked_gate: tuple[Ledger, GateOutcome, Any]) -> None:
    ledger, outcome, run = blocked_gate
    artifact = poll(lambda: _artifact(run, "govflow-gate-decision"), timeout=30, what="the decision artifact")
    text = str(artifact.data)
    html_docs = [d for d in outcome.documents if d.endswith(".html")]
    assert html_docs and any(d.startswith("model-card-") for d in html_docs)
    for name in html_docs:
        line = next((ln for ln in text.splitlines() if f"[{name}](" in ln), None)
        assert line is not None, text
        target = line.split(f"[{name}](", 1)[1].split(")", 1)[0]
        assert target.startswith("file://")
        assert Path(target.removeprefix("file://")).read_bytes().startswith(b"<!")  # the stored HTML itself
        assert str(ledger.home) in target
