"""OpenLineage events from ledger facts: golden events, schema validity, and replay of the ledger."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from govflow.checks.results import CheckKind, CheckResult, Severity
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.runs import EntityRef, RunRecord, record_run, record_run_end, record_run_start
from govflow.governance.lineage import openlineage as ol
from govflow.governance.lineage.graph import Entity
from tests.lineage.openlineage.schemas import errors, facets

GOLDEN = Path(__file__).parent / "golden"
T0 = datetime(2026, 3, 1, 9, 30, 0, 123456, tzinfo=UTC)
FLOW_ID = "01950000-0000-7000-8000-000000000001"
TASK_ID = "01950000-0000-7000-8000-000000000002"
TRAIN = "fp1:" + "a" * 64
MODEL = "fp1:" + "b" * 64
SCHEMA = [["age", "int64"], ["income", "float64"], ["label", "object"]]


def task_record(state: str = "completed") -> RunRecord:
    return RunRecord(
        run_id=TASK_ID, kind="task", name="fit", started_at=T0, state=state,
        parent_run_id=FLOW_ID, root_run_id=FLOW_ID, prefect_run_id="0b3c1d9e-5f00-4a00-8000-00000000000a",
        prefect_flow_run_id="0b3c1d9e-5f00-4a00-8000-00000000000f", attempt=1,
        params={"train": {"fingerprint": TRAIN, "kind": "dataset"}, "C": 1.0},
        code_ref="git:0123456789abcdef", source_hash="c" * 64, env={"prefect": "3.9.1", "python": "3.11.7"},
        ended_at=T0 + timedelta(seconds=2), error_type="ValueError" if state == "failed" else None,
        error_message="solver did not converge" if state == "failed" else None,
        inputs=(EntityRef(role="train", kind="dataset", fingerprint=TRAIN, name="split.return[0]", schema=SCHEMA,
                          row_count=700),
                EntityRef(role="C", kind="value", fingerprint="fp1:" + "d" * 64, name="float")),
        outputs=() if state == "failed" else (EntityRef(role="return", kind="model", fingerprint=MODEL,
                                                        name="LogisticRegression"),),
        checks=() if state == "failed" else (
            CheckResult(kind=CheckKind.VALIDATION, name="expect_column_values_to_not_be_null", subject="age",
                        observed=0, threshold=0, passed=True, severity=Severity.CRITICAL),
            CheckResult(kind=CheckKind.PERFORMANCE, name="roc_auc", subject="overall", observed=0.64,
                        threshold=0.7, passed=False, severity=Severity.CRITICAL),
            CheckResult(kind=CheckKind.FAIRNESS, name="selection_rate", subject="sex=female", observed=None,
                        threshold=30, passed=None, severity=Severity.WARNING)),
    )


CONTEXT = ol.RunContext(
    namespace="govflow://credit-scoring", job="train.fit", parent=ol.JobRef(FLOW_ID, "train"),
    root=ol.JobRef(FLOW_ID, "train"),
    entities={TRAIN: Entity(fingerprint=TRAIN, kind="dataset", name="split.return[0]", row_count=700, schema=SCHEMA),
              MODEL: Entity(fingerprint=MODEL, kind="model", name="fit.return")})


def golden(name: str, events: list[dict[str, Any]]) -> None:
    """Compare with ``golden/<name>.json`` canonically; GOVFLOW_UPDATE_GOLDEN=1 rewrites it."""
    path = GOLDEN / f"{name}.json"
    if os.environ.get("GOVFLOW_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(events, indent=2, sort_keys=True) + "\n")
    assert json.dumps(events, sort_keys=True) == json.dumps(json.loads(path.read_text()), sort_keys=True)


@pytest.mark.parametrize("state", ["completed", "failed"])
def test_events_of_a_task_match_the_golden_file(state: str) -> None:
    events = [ol.to_dict(e) for e in ol.events_for_record(task_record(state), CONTEXT)]
    golden(f"task_{state}", events)


@pytest.mark.parametrize("state", ["completed", "failed"])
def test_every_event_and_every_facet_is_valid(state: str) -> None:
    events = [ol.to_dict(e) for e in ol.events_for_record(task_record(state), CONTEXT)]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE" if state == "completed" else "FAIL"]
    for event in events:
        assert errors(event) == []
    names = {where.split(".", 1)[-1] if where.startswith(("run", "job")) else where for where, _ in facets(events[-1])}
    expected_run = {"processing_engine", "tags", "executionParameters", "parent"} | (
        {"errorMessage"} if state == "failed" else set())
    assert expected_run | {"jobType"} <= names


def test_the_validator_catches_a_bad_event_and_a_bad_facet() -> None:
    event = ol.to_dict(ol.build_event(task_record(), "COMPLETE", CONTEXT))
    bad = json.loads(json.dumps(event))
    bad["eventType"] = "BOGUS"
    assert errors(bad) == ["event: 'BOGUS' is not one of ['START', 'RUNNING', 'COMPLETE', 'ABORT', 'FAIL', 'OTHER']"]
    bad = json.loads(json.dumps(event))
    del bad["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"][0]["success"]
    assert errors(bad) == ["inputs[0].inputFacets.dataQualityAssertions: 'success' is a required property"]
    bad = json.loads(json.dumps(event))
    bad["run"]["facets"]["parent"]["run"]["runId"] = "not-a-uuid"
    assert errors(bad) == ["run.parent: 'not-a-uuid' is not a 'uuid'"]


def test_check_results_become_assertions_on_the_input_they_are_about() -> None:
    event = ol.to_dict(ol.build_event(task_record(), "COMPLETE", CONTEXT))
    [train] = event["inputs"]  # the plain value C is a parameter, not a data set
    assert (train["name"], train["facets"]["version"]["datasetVersion"]) == ("split.return[0]", TRAIN)
    assertions = train["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert assertions == [
        {"assertion": "expect_column_values_to_not_be_null", "success": True, "column": "age", "severity": "critical",
         "name": "validation:expect_column_values_to_not_be_null[age]", "expected": "0.0", "actual": "0.0",
         "description": "validation check expect_column_values_to_not_be_null on age", "params": {}},
        {"assertion": "roc_auc", "success": False, "severity": "critical", "name": "performance:roc_auc[overall]",
         "expected": "0.7", "actual": "0.64", "description": "performance check roc_auc on overall", "params": {}},
    ]  # selection_rate was not judged: OpenLineage has no "not judged", the ledger keeps it
    [model] = event["outputs"]
    assert (model["name"], model["facets"]["version"]["datasetVersion"]) == ("fit.return", MODEL)


def test_an_unknown_event_type_is_refused() -> None:
    with pytest.raises(ValueError) as e:
        ol.build_event(task_record(), "RUNNING", CONTEXT)
    assert str(e.value) == "event type must be one of ['COMPLETE', 'FAIL', 'START'], not 'RUNNING'"


def test_namespaces() -> None:
    assert ol.namespace_for("credit-scoring") == "govflow://credit-scoring"
    assert ol.namespace_for(None, "/srv/govflow") == "govflow://srv/govflow"


# -- replaying the ledger ----------------------------------------------------------------------

def _record_pipeline(ledger: Ledger) -> dict[str, str]:
    """A flow with a task that passes its checks and one that fails, written as recording does."""
    flow = RunRecord(run_id=FLOW_ID, kind="flow", name="train", started_at=T0, state="running",
                     root_run_id=FLOW_ID, params={"n": 3}, env={"prefect": "3.9.1"})
    record_run_start(ledger, flow)
    fit = task_record()
    record_run(ledger, fit)
    failed = RunRecord(**{**task_record("failed").__dict__, "run_id": "01950000-0000-7000-8000-000000000003",
                          "name": "score", "started_at": T0 + timedelta(seconds=3),
                          "ended_at": T0 + timedelta(seconds=4),
                          "inputs": (EntityRef(role="model", kind="model", fingerprint=MODEL),)})
    record_run(ledger, failed)
    record_run_end(ledger, RunRecord(**{**flow.__dict__, "state": "failed", "ended_at": T0 + timedelta(seconds=5),
                                        "error_type": "ValueError", "error_message": "solver did not converge"}))
    return {"flow": FLOW_ID, "fit": fit.run_id, "score": failed.run_id}


def test_replay_gives_valid_events_that_agree_with_the_ledger(ledger: Ledger) -> None:
    ids = _record_pipeline(ledger)
    events = ol.replay_events(ledger, ids.values(), namespace="govflow://credit-scoring")

    assert [(e["eventType"], e["job"]["name"]) for e in events] == [
        ("START", "train"), ("START", "train.fit"), ("COMPLETE", "train.fit"), ("START", "train.score"),
        ("FAIL", "train.score"), ("FAIL", "train")]
    for event in events:
        assert errors(event) == []
    assert {e["run"]["runId"] for e in events} == set(ids.values())
    fit_complete = events[2]
    assert fit_complete["run"]["facets"]["parent"]["run"]["runId"] == FLOW_ID
    assert fit_complete["run"]["facets"]["parent"]["root"]["run"]["runId"] == FLOW_ID
    assert [d["facets"]["version"]["datasetVersion"] for d in fit_complete["inputs"]] == [TRAIN]
    assert [d["facets"]["version"]["datasetVersion"] for d in fit_complete["outputs"]] == [MODEL]
    # names come from the ledger: the data set's recorded name; the model after the step that made it
    assert [d["name"] for d in fit_complete["inputs"]] == ["split.return[0]"]
    assert [d["name"] for d in events[3]["inputs"]] == ["fit.return"]
    assert events[4]["run"]["facets"]["errorMessage"]["message"] == "ValueError: solver did not converge"
    assert events[0]["eventTime"] == "2026-03-01T09:30:00.123456Z"
    assert "parent" not in events[0]["run"]["facets"]


def test_replay_equals_the_events_built_from_the_records(ledger: Ledger) -> None:
    _record_pipeline(ledger)
    replayed = ol.replay_events(ledger, [TASK_ID], namespace="govflow://credit-scoring")
    built = [ol.to_dict(e) for e in ol.events_for_record(task_record(), CONTEXT)]
    assert replayed == built
