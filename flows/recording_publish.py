"""Publishing the Prefect UI's view of a record (artifacts) off the critical path.

Creating two artifacts is two HTTP round trips to the Prefect API: 15-45 ms a flow on this machine
(seconds when the API is busy), more than recording all its tasks. They are a view of the record,
not the record, so a thread of their own creates them while the flow goes on: the ledger write
stays synchronous (fail closed); an artifact lands moments after its flow returns. The process
waits for what is queued before it exits (`flush_artifacts`, also at interpreter exit).
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


_outbox: queue.Queue[_Outgoing] = queue.Queue()
_outbox_idle = threading.Condition()
_outbox_pending = 0
_publisher: threading.Thread | None = None


def create_artifacts(artifacts: list[tuple[str, str, str, str]]) -> None:
    """Queue ``(type, data, key, description)`` artifacts of the current flow run for the publisher."""
    from prefect.client.schemas.actions import ArtifactCreate
    from prefect.context import FlowRunContext
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_KEY

    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None:
        return
    requests = [ArtifactCreate(type=kind, data=data, key=key, description=description, flow_run_id=ctx.flow_run.id)
                for kind, data, key, description in artifacts]
    client = ctx.client
    _enqueue(_Outgoing(str(client.api_url), (PREFECT_API_AUTH_STRING.value(), PREFECT_API_KEY.value(),
                                             client.server_type), requests))


def _enqueue(item: _Outgoing) -> None:
    global _outbox_pending, _publisher
    with _outbox_idle:
        _outbox_pending += 1
        if _publisher is None:  # registered after Prefect's exit handlers, so run before them: the API is still up
            atexit.register(flush_artifacts)
        if _publisher is None or not _publisher.is_alive():
            _publisher = threading.Thread(target=_publish_queued, name="govflow-artifacts", daemon=True)
            _publisher.start()
    _outbox.put(item)


def _publish_queued() -> None:
    """The publisher thread: one API client, kept while the API it talks to stays the same."""
    global _outbox_pending
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
        item = _outbox.get()
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
            with _outbox_idle:
                _outbox_pending -= 1
                _outbox_idle.notify_all()


def flush_artifacts(timeout: float = 30.0) -> bool:
    """Wait until every Prefect artifact queued so far is created; False if ``timeout`` ran out."""
    with _outbox_idle:
        return _outbox_idle.wait_for(lambda: _outbox_pending == 0, timeout=timeout)


def artifact_key(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower()).strip("-")[:100]


