"""govflow's step log lines, in the Logs tab of the Prefect run they belong to, never on the terminal.

`step_log()` is a structlog logger over the standard logger ``govflow.steps``: each line is the
event, then ``key=value`` pairs (``completed task=validate_data checks=12 failed=0 seconds=0.41``).
That logger hands its records to Prefect's ``APILogHandler`` only, and only inside a Prefect flow
or task run (the handler files them under that run, so they show in the flow run's Logs tab, and a
task's under its task run too). It does not pass them on to the root logger: the terminal stays as
quiet as the CLI makes it (``GOVFLOW_VERBOSE=1`` lets them through to whatever handlers the process
has). Prefect's own ``get_run_logger()`` would not do: govflow sets ``PREFECT_LOGGING_LEVEL`` to
CRITICAL to silence Prefect on screen, and its run loggers inherit that level.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

from govflow.governance.ledger.runs import RunRecord

LOGGER = "govflow.steps"
_attached = threading.Lock()


def _in_a_run(record: logging.LogRecord) -> bool:
    """Only lines logged inside a Prefect run reach the API (elsewhere there is no run to file them under)."""
    from prefect.context import FlowRunContext, TaskRunContext

    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def _render(_: Any, __: str, event: MutableMapping[str, Any]) -> str:
    """``event key=value ...``: short values as they are, text with spaces quoted."""
    name = str(event.pop("event", ""))
    pairs = []
    for key, value in event.items():
        text = f"{value:.4g}" if isinstance(value, float) else str(value)
        pairs.append(f"{key}={text!r}" if (" " in text or not text) else f"{key}={text}")
    return " ".join([name, *pairs])


def _attach(logger: logging.Logger) -> None:
    from prefect.logging.handlers import APILogHandler

    from govflow import settings

    with _attached:
        if any(isinstance(h, APILogHandler) for h in logger.handlers):
            return
        handler = APILogHandler()
        handler.addFilter(_in_a_run)
        handler.setLevel(logging.INFO)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = settings.verbose()


def step_log() -> Any:
    """The structlog logger for govflow's step lines (bound with ``.bind(...)``, called ``.info(event, **kv)``)."""
    logger = logging.getLogger(LOGGER)
    _attach(logger)
    return structlog.wrap_logger(logger, processors=[_render], wrapper_class=structlog.stdlib.BoundLogger)


def log_step(event: str, fields: Mapping[str, Any] | None = None, *, level: int = logging.INFO) -> None:
    """Log one step line; a failure to log never fails the step (the ledger is the record)."""
    try:
        step_log().log(level, event, **dict(fields or {}))
    except Exception:  # noqa: BLE001, S110 - the Logs tab is a view; losing a line must not stop the run
        pass


def flush() -> None:
    """Send the lines queued so far to the Prefect API (Prefect also does so when the process exits)."""
    from prefect.logging.handlers import APILogHandler

    for handler in logging.getLogger(LOGGER).handlers:
        if isinstance(handler, APILogHandler):
            handler.flush()


def recorded(rec: RunRecord) -> None:
    """The line for a recorded run's start or end: what ran, how long, its checks, its error, its ledger id."""
    if rec.state == "running":
        log_step(f"{rec.kind} started", {rec.kind: rec.name, "ledger_run": rec.run_id})
        return
    fields: dict[str, Any] = {rec.kind: rec.name}
    if rec.ended_at is not None:
        fields["seconds"] = round((rec.ended_at - rec.started_at).total_seconds(), 3)
    if rec.checks:
        fields["checks"] = len(rec.checks)
        fields["failed"] = sum(1 for c in rec.checks if getattr(c, "passed", None) is False)
    fields["ledger_run"] = rec.run_id
    if rec.state == "failed":
        fields["error"] = f"{rec.error_type}: {(rec.error_message or '').splitlines()[0] if rec.error_message else ''}"
        log_step(f"{rec.kind} failed", fields, level=logging.ERROR)
    else:
        log_step(f"{rec.kind} completed", fields)
