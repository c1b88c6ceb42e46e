"""The recorder: what records a step, handed the ledger it writes to and the sinks it tells.

A `Recorder` holds the ledger (given, or opened from the environment on first use), the sinks that
receive each recorded run (``sink(event, record)`` with START, COMPLETE or FAIL, as OpenLineage's
client is handed its transport: `govflow.flows.lineage` is one) and the `ArtifactPublisher` that
shows each flow in the Prefect UI. `record_task` and `record_flow` wrap a function so that each call
is recorded through the recorder in force when it runs (see `govflow.flows.recording`).

A task writes its whole run in one transaction after it returns; what the task writes itself
(`Ledger.write` inside it) joins that transaction, so the step lands under one audit entry
(`govflow.governance.ledger.writer.StepTransaction`). A flow writes its opening when it starts and
its ending when it returns.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, ParamSpec, Protocol, TypeVar

from govflow import canonical as canon
from govflow.errors import LedgerError
from govflow.flows import run_log
from govflow.flows.recording_facts import (
    code_reference,
    collect_checks,
    describe,
    describe_outputs,
    environment,
    named,
    params,
)
from govflow.flows.recording_publish import ArtifactPublisher, default_publisher
from govflow.flows.run_artifacts import flow_artifacts
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.ids import new_id
from govflow.governance.ledger.runs import RunRecord, record_run, record_run_end, record_run_start
from govflow.governance.ledger.writer import StepTransaction

P = ParamSpec("P")
R = TypeVar("R")
log = logging.getLogger("govflow.recording")

UNRECORDED = (
    "could not record {kind} '{name}' in the ledger ({error}); the {kind} fails because a compliance "
    "step that cannot be recorded must not pass. Check the ledger (--db / GOVFLOW_DB_URL) and retry."
)


class RunSink(Protocol):
    """Receives each recorded run after its write: ``sink(event, record)``; event is START, COMPLETE or FAIL."""

    def __call__(self, event: str, record: RunRecord, /) -> None: ...


def ledger_from_environment() -> Ledger:
    """The ledger ``GOVFLOW_DB_URL`` / ``GOVFLOW_HOME`` name (the embedded default when neither is set)."""
    return Ledger.open(os.environ.get("GOVFLOW_DB_URL"), os.environ.get("GOVFLOW_HOME"))


@dataclass
class Frame:
    """The flow run a task belongs to, as seen by the tasks it runs."""

    run_id: str
    root_run_id: str
    name: str
    checks: list[Any] = field(default_factory=list)
    model_version_id: str | None = None


class Recorder:
    """Records steps into ``ledger`` (or the one ``open_ledger`` opens on first use) and tells ``sinks``."""

    def __init__(self, ledger: Ledger | None = None, *, sinks: Iterable[RunSink] = (),
                 publisher: ArtifactPublisher | None = None,
                 open_ledger: Callable[[], Ledger] = ledger_from_environment) -> None:
        self._ledger = ledger
        self._open_ledger = open_ledger
        self._lock = threading.Lock()
        self.sinks: list[RunSink] = list(sinks)
        self.publisher = publisher or default_publisher()
        self.flows_by_prefect_run: dict[str, Frame] = {}

    @property
    def ledger(self) -> Ledger:
        with self._lock:
            if self._ledger is None:
                self._ledger = self._open_ledger()
            return self._ledger

    def use_ledger(self, ledger: Ledger | None) -> None:
        """Record into ``ledger`` from now on (None: open it again from the environment when needed)."""
        self._ledger = ledger

    def add_sink(self, sink: RunSink) -> None:
        self.sinks.append(sink)

    def remove_sink(self, sink: RunSink) -> None:
        if sink in self.sinks:
            self.sinks.remove(sink)

    def notify(self, event: str, rec: RunRecord) -> None:
        run_log.recorded(rec)  # the line in the Prefect run's Logs tab
        for sink in list(self.sinks):
            try:
                sink(event, rec)
            except Exception as e:  # the ledger is the record; an emitted copy failing must not stop it
                log.warning("lineage listener failed for %s: %s", rec.name, e)

    def write(self, kind: str, name: str, writer: Callable[[Ledger, RunRecord], int], rec: RunRecord) -> None:
        try:
            writer(self.ledger, rec)
        except Exception as e:
            raise LedgerError(UNRECORDED.format(kind=kind, name=name, error=str(e).splitlines()[0])) from e

    def step(self) -> StepTransaction | None:
        """The transaction a task's own records join (None when the ledger cannot be opened: the
        task then fails closed when its record is written, as any unrecordable task does)."""
        try:
            return self.ledger.step()
        except Exception:  # noqa: BLE001 - reported by the record's own write, after the task
            return None

    def publish(self, rec: RunRecord, frame: Frame) -> None:
        """Prefect artifacts for the UI's run history. A view of the record, never the record itself."""
        try:
            self.publisher.create(flow_artifacts(rec, frame.checks))
        except Exception as e:  # the UI view is a convenience; the ledger already holds the record
            log.warning("could not publish Prefect artifacts for %s: %s", rec.name, e)


_recorder: Recorder | None = None
_recorder_lock = threading.Lock()
_in_force: contextvars.ContextVar[Recorder | None] = contextvars.ContextVar("govflow_recorder", default=None)
current_flow: contextvars.ContextVar[Frame | None] = contextvars.ContextVar("govflow_flow", default=None)
current_task: contextvars.ContextVar[str | None] = contextvars.ContextVar("govflow_task", default=None)


def default_recorder() -> Recorder:
    """The process's recorder: what ``govflow.task`` and ``govflow.flow`` record through unless
    handed another (``recorder=``, or `using` around the call)."""
    global _recorder
    with _recorder_lock:
        if _recorder is None:
            _recorder = Recorder()
        return _recorder


@contextlib.contextmanager
def using(recorder: Recorder) -> Iterator[Recorder]:
    """Record the steps called inside through ``recorder``."""
    token = _in_force.set(recorder)
    try:
        yield recorder
    finally:
        _in_force.reset(token)


def recorder_in_force(given: Recorder | None = None) -> Recorder:
    return given or _in_force.get() or default_recorder()


# -- the wrappers ------------------------------------------------------------------------------

def base_record(kind: str, name: str, fn: Callable[..., Any], bound: inspect.BoundArguments) -> RunRecord:
    inputs = named(name, tuple(describe(arg, value) for arg, value in bound.arguments.items()))
    code_ref, source_hash = code_reference(fn)
    return RunRecord(run_id=new_id(), kind=kind, name=name, started_at=canon.utc_now(), state="running",
                     params=params(bound, inputs), code_ref=code_ref, source_hash=source_hash,
                     env=environment(), inputs=inputs)


def failure(rec: RunRecord, error: BaseException) -> RunRecord:
    return replace(rec, state="failed", ended_at=canon.utc_now(), error_type=type(error).__name__,
                   error_message=str(error)[:4000])


def _task_context(rec: RunRecord, recorder: Recorder) -> tuple[RunRecord, Frame | None]:
    """The record placed in its flow (and its Prefect task run), and that flow's frame."""
    from prefect.context import TaskRunContext

    task_ctx = TaskRunContext.get()
    frame = current_flow.get()
    if task_ctx is not None:
        run = task_ctx.task_run
        frame = frame or recorder.flows_by_prefect_run.get(str(run.flow_run_id))
        rec = replace(rec, prefect_run_id=str(run.id), prefect_flow_run_id=str(run.flow_run_id),
                      attempt=max(int(run.run_count), 1))
    if frame is not None:
        return replace(rec, parent_run_id=frame.run_id, root_run_id=frame.root_run_id), frame
    return replace(rec, root_run_id=rec.run_id), None


def resolved_signature(fn: Callable[..., Any]) -> inspect.Signature:
    """``fn``'s signature with each annotation evaluated where it can be, in ``fn``'s own module.

    Prefect resolves the string annotations of a flow's parameters (``from __future__ import
    annotations``) in the namespace of the function it is given: the wrapper's module, not the
    user's. The wrapper carries this signature instead, so a parameter typed with a name from the
    user's module validates. An annotation that cannot be evaluated stays as it was.
    """
    signature = inspect.signature(fn)
    namespace = getattr(inspect.unwrap(fn), "__globals__", {})

    def evaluated(annotation: Any) -> Any:
        if not isinstance(annotation, str):
            return annotation
        try:
            return eval(annotation, namespace)  # noqa: S307 - the function's own annotation, as typing.get_type_hints does
        except Exception:  # noqa: BLE001 - e.g. a name imported only for type checkers
            return annotation

    parameters = [p.replace(annotation=evaluated(p.annotation)) for p in signature.parameters.values()]
    return signature.replace(parameters=parameters, return_annotation=evaluated(signature.return_annotation))


def record_task(fn: Callable[P, R], name: str, recorder: Recorder | None = None) -> Callable[P, R]:
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def recorded(*args: P.args, **kwargs: P.kwargs) -> R:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        chosen = recorder_in_force(recorder)
        rec, frame = _task_context(base_record("task", name, fn, bound), chosen)
        token = current_task.set(rec.run_id)
        step = chosen.step()
        try:
            with step.active() if step is not None else contextlib.nullcontext():
                result = fn(*args, **kwargs)
        except BaseException as error:
            if step is not None:  # what the task wrote itself goes with it; its failure is recorded alone
                step.rollback()
            failed = failure(rec, error)
            chosen.write("task", name, record_run, failed)
            chosen.notify("FAIL", failed)
            raise
        finally:
            current_task.reset(token)
        checks = collect_checks(result)
        done = replace(rec, state="completed", ended_at=canon.utc_now(), outputs=named(name, describe_outputs(result)),
                       checks=tuple(checks), model_version_id=frame.model_version_id if frame else None)
        chosen.write("task", name, lambda ledger, rec: record_run(ledger, rec, step), done)
        if frame is not None:
            frame.checks.extend(checks)
        chosen.notify("COMPLETE", done)
        return result

    recorded.__signature__ = resolved_signature(fn)  # type: ignore[attr-defined]
    return recorded


def _flow_record(rec: RunRecord) -> RunRecord:
    from prefect.context import FlowRunContext

    parent = current_flow.get()
    flow_ctx = FlowRunContext.get()
    flow_run = flow_ctx.flow_run if flow_ctx else None
    prefect_id = str(flow_run.id) if flow_run else None
    return replace(rec, prefect_run_id=prefect_id, prefect_flow_run_id=prefect_id,
                   attempt=max(int(flow_run.run_count), 1) if flow_run else 1,
                   parent_run_id=parent.run_id if parent else None,
                   root_run_id=parent.root_run_id if parent else rec.run_id)


def record_flow(fn: Callable[P, R], name: str, recorder: Recorder | None = None) -> Callable[P, R]:
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def recorded(*args: P.args, **kwargs: P.kwargs) -> R:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        chosen = recorder_in_force(recorder)
        rec = _flow_record(base_record("flow", name, fn, bound))
        prefect_id = rec.prefect_run_id
        chosen.write("flow", name, record_run_start, rec)
        chosen.notify("START", rec)
        frame = Frame(run_id=rec.run_id, root_run_id=rec.root_run_id or rec.run_id, name=name)
        token = current_flow.set(frame)
        if prefect_id:
            chosen.flows_by_prefect_run[prefect_id] = frame
        try:
            result = fn(*args, **kwargs)
        except BaseException as error:
            failed = failure(rec, error)
            chosen.write("flow", name, record_run_end, failed)
            chosen.publish(failed, frame)
            chosen.notify("FAIL", failed)
            raise
        finally:
            current_flow.reset(token)
            if prefect_id:
                chosen.flows_by_prefect_run.pop(prefect_id, None)
        done = replace(rec, state="completed", ended_at=canon.utc_now(), outputs=named(name, describe_outputs(result)),
                       checks=tuple(collect_checks(result)))
        chosen.write("flow", name, record_run_end, done)
        chosen.publish(done, frame)
        chosen.notify("COMPLETE", done)
        return result

    recorded.__signature__ = resolved_signature(fn)  # type: ignore[attr-defined]
    return recorded
