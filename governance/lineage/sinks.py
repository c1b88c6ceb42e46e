"""Where live OpenLineage events go: a small `LineageSink` interface, chosen by configuration.

As the OpenLineage client is handed its transport, govflow's emitter is handed a sink: ``emit(event)``
and ``close()``. `sink_for` builds one from settings (``lineage: {openlineage: {transport: ...}}``):

* ``file``: one JSON event per line (``path``, ``append``);
* ``http``: POST to a lineage server such as Marquez (``url``, ``endpoint``, ``timeout``, ``api_key``);
* ``console``: each event logged at INFO (to stderr);
* no settings: `NullSink`, which sends nothing (the harmless default).

The three transports are the OpenLineage client's own, configured exactly as asked (no discovery
from the environment or a file). Settings are checked first (`validate`), with messages that say
what to fix.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from govflow.errors import ConfigError

BAD_TRANSPORT = "lineage.openlineage.transport must be one of file, http, console (got {got!r})"
UNKNOWN_KEYS = "lineage.openlineage has unknown key(s) {keys} for the {transport} transport; allowed: {allowed}"
MISSING_KEY = "lineage.openlineage with transport {transport} needs '{key}'"


@runtime_checkable
class LineageSink(Protocol):
    """Sends OpenLineage run events somewhere; a failure raises (the emitter decides what then)."""

    def emit(self, event: Any) -> None:
        """Send one `openlineage.client.event_v2.RunEvent`."""
        ...

    def close(self) -> None:
        """Flush and release what the sink holds."""
        ...


class NullSink:
    """Sends nothing: lineage emission off."""

    def emit(self, event: Any) -> None:
        return None

    def close(self) -> None:
        return None


class ClientSink:
    """An `OpenLineageClient` with one transport."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def emit(self, event: Any) -> None:
        self.client.emit(event)

    def close(self) -> None:
        self.client.close(timeout=5)


def _file_sink(settings: Mapping[str, Any]) -> LineageSink:
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.file import FileConfig, FileTransport

    path = Path(settings["path"]).absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    return ClientSink(OpenLineageClient(transport=FileTransport(FileConfig(
        log_file_path=str(path), append=bool(settings.get("append", True))))))


def _http_sink(settings: Mapping[str, Any]) -> LineageSink:
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport

    extra: dict[str, Any] = {}
    if settings.get("api_key"):
        extra["auth"] = ApiKeyTokenProvider({"apiKey": settings["api_key"]})
    return ClientSink(OpenLineageClient(transport=HttpTransport(HttpConfig(
        url=settings["url"], endpoint=settings.get("endpoint", "api/v1/lineage"),
        timeout=float(settings.get("timeout", 5.0)),
        retry={"total": 2, "connect": 2, "read": 2, "backoff_factor": 0.3,
               "status_forcelist": [500, 502, 503, 504], "allowed_methods": ["HEAD", "POST"]},
        **extra))))


def _console_sink(settings: Mapping[str, Any]) -> LineageSink:
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.console import ConsoleConfig, ConsoleTransport

    # The console transport logs each event at INFO: make sure that reaches the terminal (stderr).
    console_log = logging.getLogger("openlineage.client.transport.console")
    console_log.setLevel(logging.INFO)
    if not console_log.handlers:
        console_log.addHandler(logging.StreamHandler())
    return ClientSink(OpenLineageClient(transport=ConsoleTransport(ConsoleConfig())))


@dataclass(frozen=True)
class SinkKind:
    """One kind of sink: the settings keys it takes, the one it needs, and how to build it."""

    keys: frozenset[str]
    required: str | None
    build: Callable[[Mapping[str, Any]], LineageSink]


SINKS: dict[str, SinkKind] = {
    "file": SinkKind(frozenset({"transport", "path", "append", "namespace"}), "path", _file_sink),
    "http": SinkKind(frozenset({"transport", "url", "endpoint", "timeout", "api_key", "namespace"}), "url", _http_sink),
    "console": SinkKind(frozenset({"transport", "namespace"}), None, _console_sink),
}


def validate(settings: Mapping[str, Any]) -> None:
    """`ConfigError` saying what to fix when the settings name no known sink or do not fit it."""
    transport = settings.get("transport")
    kind = SINKS.get(transport) if isinstance(transport, str) else None
    if kind is None:
        raise ConfigError(BAD_TRANSPORT.format(got=transport))
    unknown = set(settings) - kind.keys
    if unknown:
        raise ConfigError(UNKNOWN_KEYS.format(keys=", ".join(sorted(unknown)), transport=transport,
                                              allowed=", ".join(sorted(kind.keys))))
    if kind.required and not settings.get(kind.required):
        raise ConfigError(MISSING_KEY.format(transport=transport, key=kind.required))


def sink_for(settings: Mapping[str, Any] | None) -> LineageSink:
    """The sink the settings ask for (checked first); `NullSink` when there are none."""
    if not settings:
        return NullSink()
    validate(settings)
    return SINKS[settings["transport"]].build(settings)
