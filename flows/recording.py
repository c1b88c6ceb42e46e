"""Automatic recording at the Prefect boundary: govflow's own `@task` and `@flow`.

They wrap the function itself (Prefect hooks can neither see the inputs nor fail the task): the
wrapper fingerprints every argument and every output, times the call and, before the result is
handed on, writes the run to the ledger in one transaction (`govflow.governance.ledger.runs`). If that write fails
the task fails (fail closed): a compliance run that cannot be recorded must not pass. A failing
function is recorded as failed, with its error, and its exception re-raised. Each Prefect retry is a
new attempt row. Caching is off by default: a cached result would skip the function, and the record.

What a task writes itself (a gate's decision, documents, incident actions, monitoring results)
joins its record's transaction: a recorded step is one audit entry, committed or rolled back whole.
The recording is done by a `govflow.flows.recorder.Recorder`, handed its ledger and its sinks
(listeners such as the OpenLineage emitter); `set_ledger`, `get_ledger` and `add_listener` reach the
process's default one.

A flow writes its opening (run row, inputs, running state) when it starts and its ending (outputs,
final state) when it returns, and publishes Prefect artifacts (a summary with the ledger run id and
fingerprints; a table of check results) so the run history in the Prefect UI shows what was recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast, overload

from govflow.errors import GovflowError
from govflow.flows.recorder import (
    UNRECORDED,
    Recorder,
    RunSink,
    current_flow,
    current_task,
    default_recorder,
    record_flow,
    record_task,
    using,
)
from govflow.flows.recording_facts import (
    code_reference,
    collect_checks,
    describe,
    describe_kind,
    describe_outputs,
    environment,
)
from govflow.flows.recording_publish import flush_artifacts
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.runs import RunRecord

if TYPE_CHECKING:
    from govflow.flows.recorded import RecordedFlow, RecordedTask

P = ParamSpec("P")
R = TypeVar("R")


# -- the process's recorder: its ledger and its sinks --------------------------------------------

def set_ledger(ledger: Ledger | None) -> None:
    """Record into this ledger (the CLI and tests set it; otherwise it is opened from the env)."""
    default_recorder().use_ledger(ledger)


def get_ledger() -> Ledger:
    """The ledger the steps running now record into (what a step's own records are written to)."""
    from govflow.flows.recorder import recorder_in_force

    return recorder_in_force().ledger


def add_listener(listener: Callable[[str, RunRecord], None]) -> None:
    """Call ``listener(event, record)`` (START, COMPLETE, FAIL) after each recorded write."""
    default_recorder().add_sink(listener)


def remove_listener(listener: Callable[[str, RunRecord], None]) -> None:
    default_recorder().remove_sink(listener)


def link_model_version(model_version_id: str) -> None:
    """Link the check results of the current flow's tasks (from now on) to a model version."""
    frame = current_flow.get()
    if frame is None:
        raise RuntimeError("link_model_version() must be called inside a govflow @flow")
    frame.model_version_id = model_version_id


def label_run(name: str, *tags: str) -> None:
    """Name the current Prefect flow run after what it does (``gate credit-scoring:2``) and tag it
    (``govflow``, the flow's kind, then ``tags``) so the Prefect UI lists and filters it by system."""
    from prefect import get_client
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return
    run = context.flow_run
    kind = context.flow.name if context.flow is not None else None
    labels = list(dict.fromkeys([*run.tags, "govflow", *([kind] if kind else []), *tags]))
    with get_client(sync_client=True) as client:
        client.update_flow_run(run.id, name=name, tags=labels)


def current_run_id() -> str | None:
    """The ledger run id of the innermost recorded task or flow (for records a step writes itself)."""
    frame = current_flow.get()
    return current_task.get() or (frame.run_id if frame else None)


# -- the decorators ----------------------------------------------------------------------------

@overload
def task(fn: Callable[P, R], /, *, name: str | None = None, recorder: Recorder | None = None,
         **prefect_options: Any) -> RecordedTask[P, R]: ...
@overload
def task(fn: None = None, /, *, name: str | None = None, recorder: Recorder | None = None,
         **prefect_options: Any) -> Callable[[Callable[P, R]], RecordedTask[P, R]]: ...


def task(fn: Callable[P, R] | None = None, /, *, name: str | None = None, recorder: Recorder | None = None,
         **prefect_options: Any) -> RecordedTask[P, R] | Callable[[Callable[P, R]], RecordedTask[P, R]]:
    """Prefect's ``@task``, recorded in the ledger. Options pass through to Prefect.

    The result is a Prefect ``Task`` (typed as ``RecordedTask``) with the function's own parameters
    and return type, so a type checker sees a recorded function's signature (``@task`` and
    ``@task(name=...)`` alike). It records through ``recorder`` when given, else the recorder in
    force when it runs (`govflow.flows.recorder.using`), else the process's.
    """
    from prefect import task as prefect_task
    from prefect.cache_policies import NO_CACHE

    def decorate(func: Callable[P, R]) -> RecordedTask[P, R]:
        task_name = name or func.__name__
        prefect_options.setdefault("cache_policy", NO_CACHE)
        recorded = record_task(func, task_name, recorder)
        return cast("RecordedTask[P, R]", prefect_task(name=task_name, **prefect_options)(recorded))

    return decorate(fn) if fn is not None else decorate


@overload
def flow(fn: Callable[P, R], /, *, name: str | None = None, recorder: Recorder | None = None,
         **prefect_options: Any) -> RecordedFlow[P, R]: ...
@overload
def flow(fn: None = None, /, *, name: str | None = None, recorder: Recorder | None = None,
         **prefect_options: Any) -> Callable[[Callable[P, R]], RecordedFlow[P, R]]: ...


def flow(fn: Callable[P, R] | None = None, /, *, name: str | None = None, recorder: Recorder | None = None,
         **prefect_options: Any) -> RecordedFlow[P, R] | Callable[[Callable[P, R]], RecordedFlow[P, R]]:
    """Prefect's ``@flow``, recorded in the ledger. Options pass through to Prefect.

    The result is a Prefect ``Flow`` (typed as ``RecordedFlow``) with the function's own parameters
    and return type.
    """
    from prefect import flow as prefect_flow

    def decorate(func: Callable[P, R]) -> RecordedFlow[P, R]:
        flow_name = name or func.__name__.replace("_", "-")
        recorded = record_flow(func, flow_name, recorder)
        return cast("RecordedFlow[P, R]", prefect_flow(name=flow_name, **prefect_options)(recorded))

    return decorate(fn) if fn is not None else decorate


__all__ = ["task", "flow", "set_ledger", "get_ledger", "add_listener", "remove_listener", "current_run_id",
           "link_model_version", "label_run", "Recorder", "RunSink", "using", "default_recorder", "describe", "describe_kind",
           "describe_outputs", "collect_checks", "code_reference", "environment", "flush_artifacts", "UNRECORDED",
           "GovflowError"]
