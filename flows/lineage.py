"""Live OpenLineage emission: a recording listener that sends each recorded run as RunEvents.

Off by default. Configured from ``lineage: {openlineage: {...}}`` in govflow.yaml (the caller
passes that mapping to `configure_openlineage`), or from the environment, which wins:

* ``GOVFLOW_OPENLINEAGE_FILE=/path/events.jsonl``: the file transport (one JSON event per line);
* ``GOVFLOW_OPENLINEAGE_URL=http://marquez:5000``: the HTTP transport (Marquez's API);
* ``GOVFLOW_OPENLINEAGE=console`` the console transport, ``off`` none at all.

Settings keys: ``transport`` (file | http | console: a `govflow.governance.lineage.sinks.LineageSink`
each), ``path`` and ``append`` (file; a relative path is taken from ``base``, the config file's
folder, else the current folder), ``url``, ``endpoint``, ``timeout``, ``api_key`` (http),
``namespace`` (default ``govflow://<system or home>``). The emitter is a sink of the recorder it is
installed on (`govflow.flows.recorder.Recorder`), and is itself handed its lineage sink.

Events are built after the ledger write, from the ledger (`govflow.governance.lineage.openlineage`), so they carry
exactly what was recorded. A failing transport is logged, never fails the step: the ledger is the
record; the events are a copy of it.
"""

from __future__ import annotations

import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from govflow.errors import ConfigError
from govflow.flows.recorder import Recorder, default_recorder
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.runs import RunRecord
from govflow.governance.lineage import openlineage as ol
from govflow.governance.lineage.graph import LINEAGE_KINDS
from govflow.governance.lineage.sinks import SINKS, LineageSink, sink_for, validate

log = logging.getLogger("govflow.lineage")

TRANSPORTS = tuple(SINKS)
BAD_ENV = "GOVFLOW_OPENLINEAGE must be console or off (got {got!r}); use GOVFLOW_OPENLINEAGE_FILE or _URL for the others"

PAUSED = ("OpenLineage transport failed for {name} ({error}); emission paused for {seconds:.0f} s "
          "({skipped} run(s) skipped before). The ledger holds every run: replay with "
          "`govflow export NAME:VERSION --format openlineage -o FILE`")

class OpenLineageEmitter:
    """A recording sink: ``emitter(event, record)`` sends the record's RunEvents to its `LineageSink`,
    reading from ``ledger()`` what the record alone does not say (its flow, data set names).

    When the transport fails (a lineage server down), emission pauses for ``PAUSE_SECONDS`` so the
    steps are not slowed by a timeout each; what was skipped is counted and said in the log. The
    ledger still holds it all: `govflow export NAME:VERSION --format openlineage` replays it.
    """

    PAUSE_SECONDS = 60.0

    def __init__(self, sink: LineageSink, namespace: str, settings: Mapping[str, Any],
                 ledger: Callable[[], Ledger]) -> None:
        self.sink = sink
        self.ledger = ledger
        self.namespace = namespace
        self.settings = dict(settings)
        self.paused_until = 0.0
        self.skipped = 0
        self._runs: OrderedDict[str, tuple[str, str]] = OrderedDict()  # run id -> (name, job name)

    def __call__(self, event: str, rec: RunRecord) -> None:
        if time.monotonic() < self.paused_until:
            self.skipped += 1
            return
        ctx = self._known_context(rec)
        if ctx is None:
            with self.ledger().read() as conn:
                ctx = ol.context_for(conn, rec, self.namespace)
        self._runs[rec.run_id] = (rec.name, ctx.job)
        if len(self._runs) > 10_000:
            self._runs.popitem(last=False)
        # A task is written once, when it ends: its START (at its start time) goes out then too.
        wanted = ["START", event] if rec.kind == "task" and event != "START" else [event]
        try:
            for event_type in wanted:
                self.sink.emit(ol.build_event(rec, event_type, ctx))
        except Exception as e:  # noqa: BLE001 - any transport failure: the ledger is the record
            self.paused_until = time.monotonic() + self.PAUSE_SECONDS
            log.warning(PAUSED.format(error=str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__,
                                      name=rec.name, seconds=self.PAUSE_SECONDS, skipped=self.skipped))
            self.skipped = 0

    def _known_context(self, rec: RunRecord) -> ol.RunContext | None:
        """The context from runs this emitter has already seen (a task's flow, the root run), with
        no ledger query; None when something must be read (an unseen run, or data set names)."""
        related = [i for i in (rec.parent_run_id, rec.root_run_id) if i and i != rec.run_id]
        if any(i not in self._runs for i in related) or any(
                r.kind in LINEAGE_KINDS for r in (*rec.inputs, *rec.outputs)):
            return None
        parent = self._runs.get(rec.parent_run_id or "")
        job = f"{parent[0]}.{rec.name}" if rec.kind == "task" and parent else rec.name
        parent_ref = ol.JobRef(rec.parent_run_id, parent[1]) if rec.parent_run_id and parent else None
        root = self._runs.get(rec.root_run_id or "")
        root_ref = ol.JobRef(rec.root_run_id, root[1]) if parent_ref and rec.root_run_id and root else None
        return ol.RunContext(namespace=self.namespace, job=job, parent=parent_ref, root=root_ref)

    def close(self) -> None:
        try:
            self.sink.close()
        except Exception as e:  # noqa: BLE001 - closing a copy's transport must not fail the caller
            log.warning("closing the OpenLineage transport failed: %s", e)


def resolve_settings(settings: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The effective transport settings: the environment beats the config; None means off."""
    env_file = os.environ.get("GOVFLOW_OPENLINEAGE_FILE")
    env_url = os.environ.get("GOVFLOW_OPENLINEAGE_URL")
    env_mode = os.environ.get("GOVFLOW_OPENLINEAGE", "").strip().lower()
    base = {k: v for k, v in (settings or {}).items() if k == "namespace"}
    if env_mode == "off":
        return None
    if env_file:
        return {**base, "transport": "file", "path": env_file, "append": True}
    if env_url:
        return {**base, "transport": "http", "url": env_url}
    if env_mode == "console":
        return {**base, "transport": "console"}
    if env_mode:
        raise ConfigError(BAD_ENV.format(got=env_mode))
    if not settings:
        return None
    return dict(settings)


def configure_openlineage(settings: Mapping[str, Any] | None, *, system: str | None = None,
                          home: Path | str | None = None, base: Path | str | None = None,
                          recorder: Recorder | None = None) -> OpenLineageEmitter | None:
    """Install (or remove) the live emitter on ``recorder`` (the process's by default); returns it,
    or None when lineage emission is off.

    ``system`` names the namespace (``govflow://<system>``, as `govflow export` does; else the
    home's path); a relative file ``path`` is taken from ``base`` (the config file's folder).
    Calling it again replaces the previous emitter, so a recorder emits through one sink.
    """
    target = recorder or default_recorder()
    effective = resolve_settings(settings)
    if effective is not None:
        validate(effective)
    uninstall(target)
    if effective is None:
        return None
    if effective["transport"] == "file" and base is not None and not Path(effective["path"]).is_absolute():
        effective["path"] = str(Path(base) / effective["path"])
    namespace = effective.get("namespace") or ol.namespace_for(system, home or os.environ.get("GOVFLOW_HOME"))
    emitter = OpenLineageEmitter(sink_for(effective), namespace, effective, lambda: target.ledger)
    target.add_sink(emitter)
    return emitter


def installed(recorder: Recorder | None = None) -> OpenLineageEmitter | None:
    """The emitter installed on ``recorder`` (the process's by default), if any."""
    target = recorder or default_recorder()
    return next((s for s in target.sinks if isinstance(s, OpenLineageEmitter)), None)


def uninstall(recorder: Recorder | None = None) -> None:
    """Stop emitting (and close the sink)."""
    target = recorder or default_recorder()
    for emitter in [s for s in target.sinks if isinstance(s, OpenLineageEmitter)]:
        target.remove_sink(emitter)
        emitter.close()
