"""Automatic recording at the Prefect boundary: govflow's own `@task` and `@flow`.

They wrap the function itself (Prefect hooks can neither see the inputs nor fail the task): the
wrapper fingerprints every argument and every output, times the call and, before the result is
handed on, writes the run to the ledger in one transaction (`govflow.governance.ledger.runs`). If that write fails
the task fails (fail closed): a compliance run that cannot be recorded must not pass. A failing
function is recorded as failed, with its error, and its exception re-raised. Each Prefect retry is a
new attempt row. Caching is off by default: a cached result would skip the function, and the record.

A flow writes its opening (run row, inputs, running state) when it starts and its ending (outputs,
final state) when it returns, and publishes Prefect artifacts (a summary with the ledger run id and
fingerprints; a table of check results) so the run history in the Prefect UI shows what was recorded.
"""

from __future__ import annotations

import contextvars
import functools
import hashlib
import importlib.metadata
import inspect
import json
import logging
import os
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast, overload

import pandas as pd

from govflow import canonical as canon
from govflow.errors import GovflowError, LedgerError
from govflow.flows.recording_publish import artifact_key, create_artifacts, flush_artifacts
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.fingerprint import fingerprint, frame_schema
from govflow.governance.ledger.ids import new_id
from govflow.governance.ledger.runs import EntityRef, RunRecord, record_run, record_run_end, record_run_start

if TYPE_CHECKING:
    from govflow.flows.recorded import RecordedFlow, RecordedTask

P = ParamSpec("P")
R = TypeVar("R")
log = logging.getLogger("govflow.recording")

UNRECORDED = (
    "could not record {kind} '{name}' in the ledger ({error}); the {kind} fails because a compliance "
    "step that cannot be recorded must not pass. Check the ledger (--db / GOVFLOW_DB_URL) and retry."
)
KEY_PACKAGES = ("govflow", "prefect", "scikit-learn", "pandas", "numpy", "great-expectations",
                "fairlearn", "evidently", "sqlalchemy")


@dataclass
class _Frame:
    """The flow run a task belongs to, as seen by the tasks it runs."""

    run_id: str
    root_run_id: str
    name: str
    checks: list[Any] = field(default_factory=list)
    model_version_id: str | None = None


_current: contextvars.ContextVar[_Frame | None] = contextvars.ContextVar("govflow_flow", default=None)
_task_run: contextvars.ContextVar[str | None] = contextvars.ContextVar("govflow_task", default=None)
_by_prefect_flow_run: dict[str, _Frame] = {}
_ledger: Ledger | None = None
_ledger_lock = threading.Lock()
_listeners: list[Callable[[str, RunRecord], None]] = []


# -- the ledger in use -------------------------------------------------------------------------

def set_ledger(ledger: Ledger | None) -> None:
    """Record into this ledger (the CLI and tests set it; otherwise it is opened from the env)."""
    global _ledger
    _ledger = ledger


def get_ledger() -> Ledger:
    global _ledger
    with _ledger_lock:
        if _ledger is None:
            _ledger = Ledger.open(os.environ.get("GOVFLOW_DB_URL"), os.environ.get("GOVFLOW_HOME"))
        return _ledger


def add_listener(listener: Callable[[str, RunRecord], None]) -> None:
    """Call ``listener(event, record)`` (START, COMPLETE, FAIL) after each recorded write."""
    _listeners.append(listener)


def remove_listener(listener: Callable[[str, RunRecord], None]) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def _notify(event: str, rec: RunRecord) -> None:
    for listener in list(_listeners):
        try:
            listener(event, rec)
        except Exception as e:  # the ledger is the record; an emitted copy failing must not stop it
            log.warning("lineage listener failed for %s: %s", rec.name, e)


def link_model_version(model_version_id: str) -> None:
    """Link the check results of the current flow's tasks (from now on) to a model version."""
    frame = _current.get()
    if frame is None:
        raise RuntimeError("link_model_version() must be called inside a govflow @flow")
    frame.model_version_id = model_version_id


def current_run_id() -> str | None:
    """The ledger run id of the innermost recorded task or flow (for records a step writes itself)."""
    frame = _current.get()
    return _task_run.get() or (frame.run_id if frame else None)


# -- facts about code and environment, computed once per process --------------------------------

@functools.cache
def environment() -> dict[str, str]:
    versions = {"python": ".".join(map(str, __import__("sys").version_info[:3]))}
    for name in KEY_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


@functools.cache
def _git_commit(folder: str) -> str | None:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True,
                             timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=folder,
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"git:{sha}{'+dirty' if dirty else ''}" if sha else None


@functools.cache
def code_reference(fn: Callable[..., Any]) -> tuple[str, str | None]:
    """``(code_ref, source_hash)``: git commit where available, else the package version."""
    try:
        source = inspect.getsource(fn)
        folder = str(Path(inspect.getfile(fn)).parent)
    except (OSError, TypeError):
        source, folder = None, os.getcwd()
    ref = _git_commit(folder) or f"govflow {environment().get('govflow', 'unknown')}"
    return ref, hashlib.sha256(source.encode()).hexdigest() if source else None


# -- describing values -------------------------------------------------------------------------

def describe(role: str, value: Any) -> EntityRef:
    """The ledger's view of one input or output."""
    if hasattr(value, "model_dump"):  # a pydantic model, e.g. the config
        kind, fp = fingerprint(value.model_dump(mode="json"))
        return EntityRef(role=role, kind=kind, fingerprint=fp, name=type(value).__name__)
    if hasattr(value, "to_dict") and not isinstance(value, pd.DataFrame | pd.Series):
        kind, fp = fingerprint(value.to_dict())
        return EntityRef(role=role, kind=kind, fingerprint=fp, name=type(value).__name__)
    kind, fp = fingerprint(value)
    if kind == "dataset":
        frame = value if isinstance(value, pd.DataFrame) else value.to_frame()
        return EntityRef(role=role, kind=kind, fingerprint=fp, name=str(frame.attrs.get("govflow:name", role)),
                         schema=frame_schema(frame), row_count=len(frame), uri=frame.attrs.get("govflow:uri"))
    if kind == "file":
        return EntityRef(role=role, kind=kind, fingerprint=fp, name=Path(value).name, uri=str(value))
    return EntityRef(role=role, kind=kind, fingerprint=fp, name=type(value).__name__)


def describe_outputs(value: Any) -> tuple[EntityRef, ...]:
    if value is None:
        return ()
    if isinstance(value, tuple):
        return tuple(describe(f"return[{i}]", item) for i, item in enumerate(value))
    if isinstance(value, dict) and any(isinstance(v, pd.DataFrame) or describe_kind(v) != "value" for v in value.values()):
        return tuple(describe(f"return.{key}", item) for key, item in value.items())
    return (describe("return", value),)


def _named(step: str, refs: tuple[EntityRef, ...]) -> tuple[EntityRef, ...]:
    """Data sets without a name of their own (``frame.attrs["govflow:name"]``) are named
    ``<step>.<role>`` (e.g. ``load.return``), not just by the bare role, which every step shares."""
    return tuple(replace(r, name=f"{step}.{r.role}") if r.kind == "dataset" and r.name == r.role else r
                 for r in refs)


def describe_kind(value: Any) -> str:
    return "value" if isinstance(value, str | int | float | bool | None) else fingerprint(value)[0]


def _params(bound: inspect.BoundArguments, inputs: tuple[EntityRef, ...]) -> dict[str, Any]:
    """Plain JSON-safe parameters as given; anything else by its fingerprint."""
    fps = {ref.role: ref for ref in inputs}
    params: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        try:
            canon.canonical(value)
            params[name] = value
        except (TypeError, ValueError):
            params[name] = {"fingerprint": fps[name].fingerprint, "kind": fps[name].kind}
    return params


def collect_checks(value: Any) -> list[Any]:
    """Check results inside a step's output: a result, a suite of results, or a tuple/dict of them."""
    if value is None or isinstance(value, str | bytes | pd.DataFrame):
        return []
    if hasattr(value, "passed") and hasattr(value, "subject") and hasattr(value, "kind"):
        return [value]
    results = getattr(value, "results", None)
    if isinstance(results, tuple | list) and all(hasattr(r, "subject") for r in results):
        return list(results)
    if isinstance(value, tuple | list):
        return [r for item in value for r in collect_checks(item)] if len(value) < 50 else []
    if isinstance(value, dict):
        return [r for item in value.values() for r in collect_checks(item)]
    return []


# -- the decorators ----------------------------------------------------------------------------

def _write(kind: str, name: str, writer: Callable[[Ledger, RunRecord], int], rec: RunRecord) -> None:
    try:
        writer(get_ledger(), rec)
    except Exception as e:
        raise LedgerError(UNRECORDED.format(kind=kind, name=name, error=str(e).splitlines()[0])) from e


def _base_record(kind: str, name: str, fn: Callable[..., Any], bound: inspect.BoundArguments) -> RunRecord:
    inputs = _named(name, tuple(describe(arg, value) for arg, value in bound.arguments.items()))
    code_ref, source_hash = code_reference(fn)
    return RunRecord(run_id=new_id(), kind=kind, name=name, started_at=canon.utc_now(), state="running",
                     params=_params(bound, inputs), code_ref=code_ref, source_hash=source_hash,
                     env=environment(), inputs=inputs)


def _failure(rec: RunRecord, error: BaseException) -> RunRecord:
    return replace(rec, state="failed", ended_at=canon.utc_now(), error_type=type(error).__name__,
                   error_message=str(error)[:4000])


def _record_task(fn: Callable[P, R], name: str) -> Callable[P, R]:
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def recorded(*args: P.args, **kwargs: P.kwargs) -> R:
        from prefect.context import TaskRunContext

        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        rec = _base_record("task", name, fn, bound)
        task_ctx = TaskRunContext.get()
        frame = _current.get()
        if task_ctx is not None:
            run = task_ctx.task_run
            frame = frame or _by_prefect_flow_run.get(str(run.flow_run_id))
            rec = replace(rec, prefect_run_id=str(run.id), prefect_flow_run_id=str(run.flow_run_id),
                          attempt=max(int(run.run_count), 1))
        if frame is not None:
            rec = replace(rec, parent_run_id=frame.run_id, root_run_id=frame.root_run_id)
        else:
            rec = replace(rec, root_run_id=rec.run_id)
        token = _task_run.set(rec.run_id)
        try:
            result = fn(*args, **kwargs)
        except BaseException as error:
            failed = _failure(rec, error)
            _write("task", name, record_run, failed)
            _notify("FAIL", failed)
            raise
        finally:
            _task_run.reset(token)
        checks = collect_checks(result)
        done = replace(rec, state="completed", ended_at=canon.utc_now(), outputs=_named(name, describe_outputs(result)),
                       checks=tuple(checks), model_version_id=frame.model_version_id if frame else None)
        _write("task", name, record_run, done)
        if frame is not None:
            frame.checks.extend(checks)
        _notify("COMPLETE", done)
        return result

    return recorded


def _record_flow(fn: Callable[P, R], name: str) -> Callable[P, R]:
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def recorded(*args: P.args, **kwargs: P.kwargs) -> R:
        from prefect.context import FlowRunContext

        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        rec = _base_record("flow", name, fn, bound)
        parent = _current.get()
        flow_ctx = FlowRunContext.get()
        prefect_id = str(flow_ctx.flow_run.id) if flow_ctx and flow_ctx.flow_run else None
        rec = replace(rec, prefect_run_id=prefect_id, prefect_flow_run_id=prefect_id,
                      attempt=max(int(flow_ctx.flow_run.run_count), 1) if flow_ctx and flow_ctx.flow_run else 1,
                      parent_run_id=parent.run_id if parent else None,
                      root_run_id=parent.root_run_id if parent else rec.run_id)
        _write("flow", name, record_run_start, rec)
        _notify("START", rec)
        frame = _Frame(run_id=rec.run_id, root_run_id=rec.root_run_id or rec.run_id, name=name)
        token = _current.set(frame)
        if prefect_id:
            _by_prefect_flow_run[prefect_id] = frame
        try:
            result = fn(*args, **kwargs)
        except BaseException as error:
            failed = _failure(rec, error)
            _write("flow", name, record_run_end, failed)
            _publish(failed, frame)
            _notify("FAIL", failed)
            raise
        finally:
            _current.reset(token)
            if prefect_id:
                _by_prefect_flow_run.pop(prefect_id, None)
        done = replace(rec, state="completed", ended_at=canon.utc_now(), outputs=_named(name, describe_outputs(result)),
                       checks=tuple(collect_checks(result)))
        _write("flow", name, record_run_end, done)
        _publish(done, frame)
        _notify("COMPLETE", done)
        return result

    return recorded


def _publish(rec: RunRecord, frame: _Frame) -> None:
    """Prefect artifacts for the UI's run history. A view of the record, never the record itself."""
    lines = [f"# govflow: {rec.name} ({rec.state})", "", f"* ledger run id: `{rec.run_id}`",
             f"* root run: `{rec.root_run_id}`", f"* code: `{rec.code_ref}`", ""]
    if rec.error_type:
        lines += [f"**Failed**: {rec.error_type}: {rec.error_message}", ""]
    for title, refs in (("Inputs", rec.inputs), ("Outputs", rec.outputs)):
        if refs:
            lines += [f"## {title}", "", "| role | kind | fingerprint |", "|---|---|---|"]
            lines += [f"| {r.role} | {r.kind} | `{r.fingerprint}` |" for r in refs]
            lines.append("")
    lines.append("Trace it: `govflow trace run " + rec.run_id + "`")
    artifacts = [("markdown", "\n".join(lines), artifact_key(f"govflow-{rec.name}"), f"govflow ledger record of {rec.name}")]
    if frame.checks:
        table = [{"kind": getattr(c.kind, "value", c.kind), "name": c.name, "subject": c.subject,
                  "observed": c.observed, "threshold": c.threshold,
                  "passed": "n/a" if c.passed is None else bool(c.passed),
                  "severity": getattr(c.severity, "value", c.severity)} for c in frame.checks]
        artifacts.append(("table", json.dumps(table, default=str), artifact_key(f"govflow-{rec.name}-checks"),
                          f"check results recorded by {rec.name}"))
    try:
        create_artifacts(artifacts)
    except Exception as e:  # the UI view is a convenience; the ledger already holds the record
        log.warning("could not publish Prefect artifacts for %s: %s", rec.name, e)


@overload
def task(fn: Callable[P, R], /, *, name: str | None = None, **prefect_options: Any) -> RecordedTask[P, R]: ...
@overload
def task(fn: None = None, /, *, name: str | None = None,
         **prefect_options: Any) -> Callable[[Callable[P, R]], RecordedTask[P, R]]: ...


def task(fn: Callable[P, R] | None = None, /, *, name: str | None = None,
         **prefect_options: Any) -> RecordedTask[P, R] | Callable[[Callable[P, R]], RecordedTask[P, R]]:
    """Prefect's ``@task``, recorded in the ledger. Options pass through to Prefect.

    The result is a Prefect ``Task`` (typed as ``RecordedTask``) with the function's own parameters
    and return type, so a type checker sees a recorded function's signature (``@task`` and
    ``@task(name=...)`` alike).
    """
    from prefect import task as prefect_task
    from prefect.cache_policies import NO_CACHE

    def decorate(func: Callable[P, R]) -> RecordedTask[P, R]:
        task_name = name or func.__name__
        prefect_options.setdefault("cache_policy", NO_CACHE)
        recorded = _record_task(func, task_name)
        return cast("RecordedTask[P, R]", prefect_task(name=task_name, **prefect_options)(recorded))

    return decorate(fn) if fn is not None else decorate


@overload
def flow(fn: Callable[P, R], /, *, name: str | None = None, **prefect_options: Any) -> RecordedFlow[P, R]: ...
@overload
def flow(fn: None = None, /, *, name: str | None = None,
         **prefect_options: Any) -> Callable[[Callable[P, R]], RecordedFlow[P, R]]: ...


def flow(fn: Callable[P, R] | None = None, /, *, name: str | None = None,
         **prefect_options: Any) -> RecordedFlow[P, R] | Callable[[Callable[P, R]], RecordedFlow[P, R]]:
    """Prefect's ``@flow``, recorded in the ledger. Options pass through to Prefect.

    The result is a Prefect ``Flow`` (typed as ``RecordedFlow``) with the function's own parameters
    and return type.
    """
    from prefect import flow as prefect_flow

    def decorate(func: Callable[P, R]) -> RecordedFlow[P, R]:
        flow_name = name or func.__name__.replace("_", "-")
        recorded = _record_flow(func, flow_name)
        return cast("RecordedFlow[P, R]", prefect_flow(name=flow_name, **prefect_options)(recorded))

    return decorate(fn) if fn is not None else decorate


__all__ = ["task", "flow", "set_ledger", "get_ledger", "add_listener", "remove_listener", "current_run_id",
           "describe", "flush_artifacts", "GovflowError"]
