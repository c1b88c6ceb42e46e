"""Publishing the Prefect UI's view of a record (artifacts) off the critical path.

Creating two artifacts is two HTTP round trips to the Prefect API: 15-45 ms a flow on this machine
(seconds when the API is busy), more than recording all its tasks. They are a view of the record,
not the record, so a thread of their own creates them while the flow goes on: the ledger write
stays synchronous (fail closed); an artifact lands moments after its flow returns. The process
waits for what is queued before it exits (`flush_artifacts`, also at interpreter exit). A recorder
is handed its `ArtifactPublisher` (the process's one by default).
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("govflow.recording")


@dataclass(frozen=True)
class _Outgoing:
    api_url: str
    auth: tuple[Any, ...]  # auth string, API key, server type: as the flow run's own client had them
    requests: list[Any]  # prefect.client.schemas.actions.ArtifactCreate


class ArtifactPublisher:
    """A queue of Prefect artifacts and the thread that creates them (started on first use)."""

    def __init__(self) -> None:
        self._outbox: queue.Queue[_Outgoing] = queue.Queue()
        self._idle = threading.Condition()
        self._pending = 0
        self._thread: threading.Thread | None = None

    def create(self, artifacts: list[tuple[str, str, str, str]]) -> None:
        """Queue ``(type, data, key, description)`` artifacts of the current flow run."""
        from prefect.client.schemas.actions import ArtifactCreate
        from prefect.context import FlowRunContext
        from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_KEY

        ctx = FlowRunContext.get()
        if ctx is None or ctx.flow_run is None:
            return
        requests = [ArtifactCreate(type=kind, data=data, key=key, description=description, flow_run_id=ctx.flow_run.id)
                    for kind, data, key, description in artifacts]
        client = ctx.client
        self._enqueue(_Outgoing(str(client.api_url), (PREFECT_API_AUTH_STRING.value(), PREFECT_API_KEY.value(),
                                                      client.server_type), requests))

    def _enqueue(self, item: _Outgoing) -> None:
        with self._idle:
            self._pending += 1
            if self._thread is None:  # registered after Prefect's exit handlers, so run before them: the API is still up
                atexit.register(self.flush)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._publish_queued, name="govflow-artifacts", daemon=True)
                self._thread.start()
        self._outbox.put(item)

    def _publish_queued(self) -> None:
        """The publisher thread: one API client, kept while the API it talks to stays the same."""
        from prefect.client.orchestration import SyncPrefectClient

        client: Any = None
        target: tuple[Any, ...] = ()

        def close() -> None:
            nonlocal client, target
            if client is not None:
                try:
                    client.__exit__(None, None, None)
                except Exception:  # noqa: BLE001 - a client already broken has nothing left to close
                    pass
            client, target = None, ()

        while True:
            item = self._outbox.get()
            try:
                if (item.api_url, item.auth) != target:
                    close()
                    auth_string, api_key, server_type = item.auth
                    client = SyncPrefectClient(item.api_url, auth_string=auth_string, api_key=api_key,
                                               server_type=server_type).__enter__()
                    target = (item.api_url, item.auth)
                for request in item.requests:
                    client.create_artifact(artifact=request)
            except Exception as e:  # the UI view is a convenience; the ledger already holds the record
                log.warning("could not publish Prefect artifacts: %s", e)
                close()
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every artifact queued so far is created; False if ``timeout`` ran out."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)


_default = ArtifactPublisher()


def default_publisher() -> ArtifactPublisher:
    """The process's publisher, the one recorders use unless handed another."""
    return _default


def create_artifacts(artifacts: list[tuple[str, str, str, str]]) -> None:
    """Queue artifacts of the current flow run on the process's publisher."""
    _default.create(artifacts)


def flush_artifacts(timeout: float = 30.0) -> bool:
    """Wait until every Prefect artifact queued so far on the process's publisher is created."""
    return _default.flush(timeout)


def artifact_key(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower()).strip("-")[:100]


