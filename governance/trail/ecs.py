"""Elastic Common Schema (ECS) field names for govflow's logs, so log shippers need no mapping.

`ecs_fields` is a structlog processor (the last before the JSON renderer) that turns govflow's log
events into ECS documents: structlog's ``event`` (the event name) becomes ``event.action`` and
``message``; the level ``log.level``; the time ``@timestamp``; the fields with an ECS meaning
their ECS names (`RENAMED`: ``status`` -> ``http.response.status_code``, ``ms`` -> ``event.duration``
in nanoseconds, ``request_id`` -> ``http.request.id``, ...); other text fields become ``labels.*``
(ECS labels are keywords) and other values (counts, lists) go under the custom ``govflow.*``
namespace, where ECS puts fields it does not define. Filebeat, Vector or Fluent Bit ship the lines
as they are (see deployments/logging/).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

ECS_VERSION = "8.11.0"

# govflow's log field -> its ECS name
RENAMED = {
    "status": "http.response.status_code",
    "request_id": "http.request.id",
    "method": "http.request.method",
    "path": "url.path",
    "caller": "user.name",
    "error_type": "error.type",
    "error": "error.message",
    "exception": "error.stack_trace",
}


def _put(doc: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = doc
    for name in parents:
        node = node.setdefault(name, {})
    node[leaf] = value


def ecs_fields(service: str, service_type: str = "govflow") -> Any:
    """A structlog processor making ECS documents; ``service`` is ``service.name``."""

    def processor(_logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> dict[str, Any]:
        fields = dict(event_dict)
        action = str(fields.pop("event", ""))
        doc: dict[str, Any] = {
            "@timestamp": fields.pop("timestamp", None) or fields.pop("@timestamp", None),
            "message": action,
            "ecs": {"version": ECS_VERSION},
            "log": {"level": str(fields.pop("level", method)), "logger": str(fields.pop("logger", service))},
            "event": {"action": action, "kind": "event", "dataset": f"{service}.log"},
            "service": {"name": service, "type": service_type},
        }
        if "ms" in fields:
            milliseconds = fields.pop("ms")
            if isinstance(milliseconds, int | float):
                doc["event"]["duration"] = int(round(milliseconds * 1_000_000))
        status = fields.get("status")
        if isinstance(status, int):
            doc["event"]["outcome"] = "success" if status < 400 else "failure"
        for name, value in fields.items():
            if value is None:
                continue
            if name in RENAMED:
                _put(doc, RENAMED[name], value)
            elif isinstance(value, str):
                doc.setdefault("labels", {})[name] = value
            else:
                doc.setdefault("govflow", {})[name] = value
        return doc

    return processor


def processors(service: str) -> list[Any]:
    """The structlog chain for ECS JSON lines: level, ``@timestamp`` (UTC, ISO 8601), ECS names, JSON."""
    import structlog

    return [structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info, ecs_fields(service), structlog.processors.JSONRenderer()]
