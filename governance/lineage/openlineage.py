"""OpenLineage run events built from ledger facts: the same record, in the ecosystem's standard.

Pure: facts in (a `RunRecord` and a `RunContext`), typed `openlineage.client` events out. The live
emitter (`govflow.flows.lineage`) and the replay of the ledger (`replay_events`, behind `govflow export
--format openlineage`) build their events here from the same facts, so both give the same events.

Mapping (OpenLineage 2-0-2):

* ``run.runId`` is the ledger run id (a UUIDv7). Run facets: ``parent`` (the flow run a task ran
  in, and the root run), ``processing_engine`` (Prefect and its version), ``tags`` (Prefect run id,
  attempt, code reference, source and config hashes), ``executionParameters`` (the parameters as
  recorded), and ``errorMessage`` on FAIL.
* ``job``: the namespace (``govflow://<system or home>``) and the name: a flow's name, or
  ``<flow>.<task>`` for a task; facet ``jobType`` (BATCH, GOVFLOW, FLOW|TASK).
* datasets: every data set, model, file or artifact a run took or produced (plain values are
  parameters, not data sets), named as the ledger names it (`govflow.governance.lineage.graph.entities`).
  Facets: ``version`` (``datasetVersion`` = the govflow fingerprint) and ``schema`` (data sets);
  output facet ``outputStatistics`` (row count); input facet ``dataQualityAssertions``: the check
  results the run recorded (not-judged results have no ``success`` value and are left out).
* ``eventTime``: START at the run's start, COMPLETE or FAIL at the time of its final state.
"""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    data_quality_assertions_dataset,
    dataset_version_dataset,
    error_message_run,
    execution_parameters_run,
    job_type_job,
    output_statistics_output_dataset,
    parent_run,
    processing_engine_run,
    schema_dataset,
    tags_run,
)
from openlineage.client.serde import Serde

from govflow import canonical as canon
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.runs import EntityRef, RunRecord
from govflow.governance.lineage import graph
from govflow.governance.lineage.graph import LINEAGE_KINDS, Entity, RunView


def _version() -> str:
    try:
        return importlib.metadata.version("govflow")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


GOVFLOW_VERSION = _version()
PRODUCER = f"https://github.com/govflow/govflow/tree/v{GOVFLOW_VERSION}"
EVENT_TYPES = {"START": RunState.START, "COMPLETE": RunState.COMPLETE, "FAIL": RunState.FAIL}


def namespace_for(system: str | None = None, home: Path | str | None = None) -> str:
    """``govflow://<system>``, else ``govflow://<home path>``."""
    if system:
        return f"govflow://{system}"
    return f"govflow://{Path(home or '.govflow').absolute().as_posix().lstrip('/')}"


@dataclass(frozen=True)
class JobRef:
    run_id: str
    job: str


@dataclass(frozen=True)
class RunContext:
    """What an event needs beyond the run's own record: names from the rest of the ledger."""

    namespace: str
    job: str  # this run's job name
    parent: JobRef | None = None
    root: JobRef | None = None
    entities: Mapping[str, Entity] = field(default_factory=dict)  # by fingerprint


@dataclass(frozen=True)
class StoredCheck:
    """A check result as read back from ``check_results`` (the fields events need)."""

    kind: str
    name: str
    subject: str
    observed: Any
    threshold: Any
    passed: bool | None
    severity: str


# -- building events ---------------------------------------------------------------------------

def build_event(rec: RunRecord, event_type: str, ctx: RunContext) -> RunEvent:
    """One RunEvent (START, COMPLETE or FAIL) for a recorded run."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"event type must be one of {sorted(EVENT_TYPES)}, not {event_type!r}")
    start = event_type == "START"
    moment = rec.started_at if start else (rec.ended_at or rec.started_at)
    assertions = {} if start else _assertions(rec, ctx)
    inputs = [
        InputDataset(namespace=ctx.namespace, name=ent.name, facets=_dataset_facets(ent),
                     inputFacets=_input_facets(assertions.get(ent.fingerprint)))
        for ent in _lineage(rec.inputs, rec, ctx)
    ]
    outputs = [] if start else [
        OutputDataset(namespace=ctx.namespace, name=ent.name, facets=_dataset_facets(ent),
                      outputFacets=_output_facets(ent))
        for ent in _lineage(rec.outputs, rec, ctx)
    ]
    return RunEvent(
        eventType=EVENT_TYPES[event_type], eventTime=canon.format_ts(moment), producer=PRODUCER,
        run=Run(runId=rec.run_id, facets=_run_facets(rec, event_type, ctx)),
        job=Job(namespace=ctx.namespace, name=ctx.job, facets={
            "jobType": job_type_job.JobTypeJobFacet(processingType="BATCH", integration="GOVFLOW",
                                                    jobType=rec.kind.upper(), producer=PRODUCER)}),
        inputs=inputs, outputs=outputs,
    )


def events_for_record(rec: RunRecord, ctx: RunContext) -> list[RunEvent]:
    """START, and COMPLETE or FAIL when the record is final."""
    events = [build_event(rec, "START", ctx)]
    if rec.state == "completed":
        events.append(build_event(rec, "COMPLETE", ctx))
    elif rec.state == "failed":
        events.append(build_event(rec, "FAIL", ctx))
    return events


def to_dict(event: RunEvent) -> dict[str, Any]:
    """The event as JSON-safe data, exactly as a transport writes it."""
    return json.loads(Serde.to_json(event))  # type: ignore[no-any-return]


def _run_facets(rec: RunRecord, event_type: str, ctx: RunContext) -> dict[str, Any]:
    facets: dict[str, Any] = {
        "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
            version=rec.env.get("prefect", "unknown"), name="prefect",
            openlineageAdapterVersion=GOVFLOW_VERSION, producer=PRODUCER),
        "tags": tags_run.TagsRunFacet(tags=[
            tags_run.TagsRunFacetFields(key=key, value=str(value), source="GOVFLOW")
            for key, value in (("govflow.run_kind", rec.kind), ("prefect.run_id", rec.prefect_run_id),
                               ("prefect.flow_run_id", rec.prefect_flow_run_id), ("govflow.attempt", rec.attempt),
                               ("govflow.code_ref", rec.code_ref), ("govflow.source_hash", rec.source_hash),
                               ("govflow.config_hash", rec.config_hash))
            if value is not None], producer=PRODUCER),
        "executionParameters": execution_parameters_run.ExecutionParametersRunFacet(parameters=[
            execution_parameters_run.ExecutionParameter(key=key, value=_text(value))
            for key, value in sorted(rec.params.items())], producer=PRODUCER),
    }
    if ctx.parent is not None:
        root = ctx.root or ctx.parent
        facets["parent"] = parent_run.ParentRunFacet(
            run=parent_run.Run(runId=ctx.parent.run_id),
            job=parent_run.Job(namespace=ctx.namespace, name=ctx.parent.job),
            root=parent_run.Root(run=parent_run.RootRun(runId=root.run_id),
                                 job=parent_run.RootJob(namespace=ctx.namespace, name=root.job)),
            producer=PRODUCER)
    if event_type == "FAIL":
        message = f"{rec.error_type}: {rec.error_message}" if rec.error_type else (rec.error_message or "failed")
        facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=message, programmingLanguage="python", producer=PRODUCER)
    return facets


def _lineage(refs: Iterable[EntityRef], rec: RunRecord, ctx: RunContext) -> list[Entity]:
    """The entities behind a run's edges that are lineage (not plain values), one per content."""
    seen: dict[str, Entity] = {}
    for ref in refs:
        if ref.kind not in LINEAGE_KINDS or ref.fingerprint in seen:
            continue
        seen[ref.fingerprint] = ctx.entities.get(ref.fingerprint) or Entity(
            fingerprint=ref.fingerprint, kind=ref.kind, name=ref.name or f"{rec.name}.{ref.role}",
            row_count=ref.row_count, schema=ref.schema, uri=ref.uri)
    return list(seen.values())


def _dataset_facets(ent: Entity) -> dict[str, Any]:
    facets: dict[str, Any] = {
        "version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=ent.fingerprint,
                                                                      producer=PRODUCER)}
    if ent.schema is not None:
        facets["schema"] = schema_dataset.SchemaDatasetFacet(fields=[
            schema_dataset.SchemaDatasetFacetFields(name=name, type=dtype) for name, dtype in ent.schema
        ], producer=PRODUCER)
    return facets


def _output_facets(ent: Entity) -> dict[str, Any]:
    if ent.row_count is None:
        return {}
    return {"outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
        rowCount=ent.row_count, producer=PRODUCER)}


def _input_facets(assertions: list[Any] | None) -> dict[str, Any]:
    if not assertions:
        return {}
    return {"dataQualityAssertions": data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
        assertions=assertions, producer=PRODUCER)}


def _assertions(rec: RunRecord, ctx: RunContext) -> dict[str, list[Any]]:
    """Check results as assertions, on the input they are about.

    A result whose subject is a column of exactly one input data set goes to that data set (with
    ``column``); any other goes to the run's first input data set (or model, or file). A run with
    no such input has nowhere to put them in OpenLineage: the ledger still holds them.
    """
    inputs = _lineage(rec.inputs, rec, ctx)
    if not inputs or not rec.checks:
        return {}
    first = next((e for e in inputs if e.kind == "dataset"), inputs[0])
    out: dict[str, list[Any]] = {}
    for check in rec.checks:
        if check.passed is None:
            continue
        subject = str(check.subject)
        owners = [e for e in inputs if e.schema and subject in {c for c, _ in e.schema}]
        target = owners[0] if len(owners) == 1 else first
        out.setdefault(target.fingerprint, []).append(data_quality_assertions_dataset.Assertion(
            assertion=check.name, success=bool(check.passed), column=subject if len(owners) == 1 else None,
            severity=_plain(check.severity), name=f"{_plain(check.kind)}:{check.name}[{subject}]",
            description=f"{_plain(check.kind)} check {check.name} on {subject}",
            expected=None if check.threshold is None else _text(check.threshold),
            actual=None if check.observed is None else _text(check.observed)))
    return out


def _plain(value: Any) -> str:
    return str(value.value if isinstance(value, Enum) else value)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else canon.canonical(value).decode("utf-8")


# -- from the ledger ---------------------------------------------------------------------------

def record_from_view(view: RunView, edges: Iterable[graph.EdgeView], checks: Iterable[dict[str, Any]]) -> RunRecord:
    """A `RunRecord` rebuilt from what the ledger holds about a run."""
    def refs(direction: str) -> tuple[EntityRef, ...]:
        return tuple(EntityRef(role=e.role, kind=e.kind, fingerprint=e.fingerprint)
                     for e in edges if e.run_id == view.id and e.direction == direction)

    stored = tuple(
        StoredCheck(kind=c["kind"], name=c["name"], subject=c["subject"], observed=json.loads(c["observed_json"]),
                    threshold=json.loads(c["threshold_json"]),
                    passed=None if c["passed"] is None else bool(c["passed"]), severity=c["severity"])
        for c in checks)
    return RunRecord(
        run_id=view.id, kind=view.kind, name=view.name, started_at=view.started_at, state=view.state,
        parent_run_id=view.parent_run_id, root_run_id=view.root_run_id, prefect_run_id=view.prefect_run_id,
        prefect_flow_run_id=view.prefect_flow_run_id, attempt=view.attempt, params=view.params,
        code_ref=view.code_ref, source_hash=view.source_hash, env=view.env, config_hash=view.config_hash,
        ended_at=view.ended_at, error_type=view.error_type, error_message=view.error_message,
        inputs=refs("input"), outputs=refs("output"), checks=stored)


def context_for(conn: Any, rec: RunRecord, namespace: str) -> RunContext:
    """The names an event for this record needs, read from the ledger."""
    related = {i for i in (rec.parent_run_id, rec.root_run_id) if i and i != rec.run_id}
    names = graph.job_names(conn, related) if related else {}
    parent = graph.runs(conn, [rec.parent_run_id]).get(rec.parent_run_id) if rec.parent_run_id else None
    job = graph.job_name(rec.kind, rec.name, parent)
    fingerprints = {r.fingerprint for r in (*rec.inputs, *rec.outputs) if r.kind in LINEAGE_KINDS}
    return _context(rec, namespace, job, names, graph.entities(conn, fingerprints))


def _context(rec: RunRecord, namespace: str, job: str, names: Mapping[str, str],
             entities: Mapping[str, Entity]) -> RunContext:
    parent = None
    if rec.parent_run_id and rec.parent_run_id in names:
        parent = JobRef(rec.parent_run_id, names[rec.parent_run_id])
    root = None
    if parent is not None and rec.root_run_id and rec.root_run_id in names:
        root = JobRef(rec.root_run_id, names[rec.root_run_id])
    return RunContext(namespace=namespace, job=job, parent=parent, root=root, entities=entities)


def replay_events(ledger: Ledger, run_ids: Iterable[str], namespace: str | None = None) -> list[dict[str, Any]]:
    """The ledger's record of these runs as OpenLineage events, in time order.

    Each run gives START and, once it ended, COMPLETE or FAIL: the events the live emitter sent
    (or would have sent) for it.
    """
    ns = namespace or namespace_for(home=ledger.home)
    with ledger.read() as conn:
        views = graph.runs(conn, run_ids)
        related = {i for v in views.values() for i in (v.parent_run_id, v.root_run_id) if i}
        names = graph.job_names(conn, set(views) | related)
        edges = graph.edges_of_runs(conn, views)
        entities = graph.entities(conn, {e.fingerprint for e in edges if e.kind in LINEAGE_KINDS})
        checks = graph.checks_of_runs(conn, views)
    keyed: list[tuple[str, int, str, dict[str, Any]]] = []
    for run_id, view in views.items():
        rec = record_from_view(view, edges, checks.get(run_id, []))
        ctx = _context(rec, ns, names[run_id], names, entities)
        for event in events_for_record(rec, ctx):
            data = to_dict(event)
            keyed.append((data["eventTime"], 0 if data["eventType"] == "START" else 1, run_id, data))
    return [data for *_, data in sorted(keyed, key=lambda k: k[:3])]


__all__ = ["PRODUCER", "RunContext", "JobRef", "StoredCheck", "build_event", "events_for_record", "to_dict",
           "record_from_view", "context_for", "replay_events", "namespace_for"]
