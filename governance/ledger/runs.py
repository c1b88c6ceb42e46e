"""Recording runs: what a step was given, what it produced, and how it ended.

The ledger side of the recording contract (DESIGN.md). `govflow.flows.recording` gathers the facts at the
Prefect boundary into a `RunRecord`; this module writes them, one transaction per record. Data sets
are ledger entities by content: the first run that sees a fingerprint creates its
`dataset_versions` row, and every later run that takes or returns the same content links to it,
which is what connects the lineage graph across tasks and flows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import select

from govflow import canonical as canon
from govflow.governance.ledger.engine import Ledger, Writer
from govflow.governance.ledger.schema import Artifact, CheckResultRow, DatasetVersion, Edge, Run, RunState
from govflow.governance.ledger.writer import StepTransaction


@dataclass(frozen=True)
class EntityRef:
    """One input or output of a run."""

    role: str  # the argument name, or "return" / "return[i]" / "return.key"
    kind: str  # dataset | model | file | value
    fingerprint: str
    name: str = ""
    schema: list[list[str]] | None = None  # [[column, dtype], ...] for data sets
    row_count: int | None = None
    uri: str | None = None


@dataclass(frozen=True)
class RunRecord:
    """Everything the ledger keeps about one flow or task run."""

    run_id: str
    kind: str  # flow | task
    name: str
    started_at: datetime
    state: str  # running | completed | failed
    parent_run_id: str | None = None
    root_run_id: str | None = None
    prefect_run_id: str | None = None
    prefect_flow_run_id: str | None = None
    attempt: int = 1
    params: dict[str, Any] = field(default_factory=dict)
    code_ref: str | None = None
    source_hash: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    config_hash: str | None = None
    ended_at: datetime | None = None
    error_type: str | None = None
    error_message: str | None = None
    inputs: tuple[EntityRef, ...] = ()
    outputs: tuple[EntityRef, ...] = ()
    checks: tuple[Any, ...] = ()  # govflow.checks.results.CheckResult values
    model_version_id: str | None = None


def to_json(value: Any) -> str:
    return canon.canonical(value).decode("utf-8")


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


@dataclass(frozen=True)
class JudgedCheck:
    """A check result with the model version it judged, for a step that judges several versions
    (fleet monitoring): recorded linked to that version rather than to the run's one."""

    result: Any  # govflow.checks.results.CheckResult
    model_version_id: str

    def __getattr__(self, name: str) -> Any:  # reads like the result itself (kind, name, passed, ...)
        if name.startswith("__") or name == "result":  # unpickling asks before `result` is set
            raise AttributeError(name)
        return getattr(self.result, name)


def check_row(run_id: str, result: Any, model_version_id: str | None = None) -> dict[str, Any]:
    """A `check_results` row from a `govflow.checks.results.CheckResult`."""
    passed = result.passed
    return dict(
        run_id=run_id, model_version_id=model_version_id, kind=_plain(result.kind), name=result.name,
        subject=str(result.subject), passed=None if passed is None else int(bool(passed)),
        observed_json=to_json(result.observed), threshold_json=to_json(result.threshold),
        severity=_plain(result.severity), details_json=to_json(result.details or {}),
    )


def _add_entities(w: Writer, run_id: str, direction: str, refs: tuple[EntityRef, ...]) -> None:
    datasets = [r for r in refs if r.kind == "dataset"]
    known: dict[str, str] = {}
    if datasets:
        wanted = sorted({r.fingerprint for r in datasets})
        known = dict(w.conn.execute(
            select(DatasetVersion.fingerprint, DatasetVersion.id).where(DatasetVersion.fingerprint.in_(wanted))
        ).all())
    for ref in refs:
        entity_id = None
        if ref.kind == "dataset":
            entity_id = known.get(ref.fingerprint)
            if entity_id is None:
                row = w.add(
                    DatasetVersion, name=ref.name or ref.role, fingerprint=ref.fingerprint,
                    schema_hash=canon.hash_value(ref.schema) if ref.schema is not None else None,
                    schema_json=to_json(ref.schema) if ref.schema is not None else None,
                    row_count=ref.row_count, uri=ref.uri,
                    produced_by_run_id=run_id if direction == "output" else None, created_at=canon.utc_now(),
                )
                entity_id = known[ref.fingerprint] = row["id"]
        w.add(Edge, run_id=run_id, direction=direction, role=ref.role, entity_kind=ref.kind,
              entity_id=entity_id, fingerprint=ref.fingerprint)


def _add_run(w: Writer, rec: RunRecord) -> None:
    w.add(
        Run, id=rec.run_id, kind=rec.kind, name=rec.name, parent_run_id=rec.parent_run_id,
        root_run_id=rec.root_run_id, prefect_run_id=rec.prefect_run_id,
        prefect_flow_run_id=rec.prefect_flow_run_id, attempt=rec.attempt, params_json=to_json(rec.params),
        code_ref=rec.code_ref, source_hash=rec.source_hash, env_json=to_json(rec.env),
        config_hash=rec.config_hash, started_at=rec.started_at,
    )
    w.add(RunState, run_id=rec.run_id, state="running", at=rec.started_at)


def _add_end(w: Writer, rec: RunRecord) -> None:
    _add_entities(w, rec.run_id, "output", rec.outputs)
    for result in rec.checks:
        judged = result.model_version_id if isinstance(result, JudgedCheck) else rec.model_version_id
        w.add(CheckResultRow, **check_row(rec.run_id, result, judged))
    w.add(RunState, run_id=rec.run_id, state=rec.state, at=rec.ended_at or canon.utc_now(),
          error_type=rec.error_type, error_message=rec.error_message)


def _add_whole_run(w: Writer, rec: RunRecord) -> None:
    _add_run(w, rec)
    _add_entities(w, rec.run_id, "input", rec.inputs)
    _add_end(w, rec)


def record_run(ledger: Ledger, rec: RunRecord, step: StepTransaction | None = None) -> int:
    """A whole run (start, inputs, outputs, checks, end) in one transaction; returns its audit seq.

    With ``step`` (the run's own step transaction, `Ledger.step`), the run joins what the step
    wrote itself and commits it all under one audit entry.
    """
    event_type, subject = f"{rec.kind}.{rec.state}", f"{rec.kind} {rec.name} {rec.run_id}"
    if step is not None:
        seq = step.commit(event_type, subject, lambda w: _add_whole_run(w, rec))
        if seq is not None:
            return seq
    with ledger.write(event_type, subject) as w:
        _add_whole_run(w, rec)
    assert w.seq is not None
    return w.seq


def record_run_start(ledger: Ledger, rec: RunRecord) -> int:
    """The opening of a long run (a flow): its row, its inputs and a running state."""
    with ledger.write(f"{rec.kind}.running", f"{rec.kind} {rec.name} {rec.run_id}") as w:
        _add_run(w, rec)
        _add_entities(w, rec.run_id, "input", rec.inputs)
    assert w.seq is not None
    return w.seq


def record_run_end(ledger: Ledger, rec: RunRecord) -> int:
    """The closing of a run opened with `record_run_start`: outputs, checks and the final state."""
    with ledger.write(f"{rec.kind}.{rec.state}", f"{rec.kind} {rec.name} {rec.run_id}") as w:
        _add_end(w, rec)
    assert w.seq is not None
    return w.seq


def find_run_by_prefect_id(ledger: Ledger, prefect_run_id: str) -> str | None:
    """The ledger run recorded for a Prefect run id (latest attempt)."""
    with ledger.read() as conn:
        return conn.execute(
            select(Run.id).where(Run.prefect_run_id == prefect_run_id).order_by(Run.id.desc()).limit(1)
        ).scalar()


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def add_artifact(w: Writer, store: Any, *, kind: str, name: str, data: bytes, media_type: str,
                 run_id: str | None = None, model_version_id: str | None = None) -> dict[str, Any]:
    """Store a file by content hash and record it in the same transaction as the writer's rows."""
    content_hash = store.put(data)
    return w.add(Artifact, kind=kind, name=name, content_hash=content_hash, uri=store.uri(content_hash),
                 media_type=media_type, size=len(data), produced_by_run_id=run_id,
                 model_version_id=model_version_id, created_at=canon.utc_now())
