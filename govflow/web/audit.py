"""The read-only auditor API of `govflow serve` (``/audit/...``, auditor token only) and the
offline API reference page (``/docs``)."""

from __future__ import annotations

import html
import json
from typing import Any, Protocol

import structlog
from fastapi import FastAPI, Request

from govflow import canonical as canon
from govflow.errors import InputError
from govflow.governance.ledger.engine import Ledger
from govflow.governance.registry import versions as registry


class Auditors(Protocol):
    def auditor(self, request: Request) -> str: ...


class AuditState(Protocol):
    """What the audit routes need of the server (`govflow.web.app.ServeState` has it)."""

    @property
    def ledger(self) -> Ledger: ...

    @property
    def auth(self) -> Auditors: ...

log = structlog.get_logger("govflow.serve")
AUDIT_ERRORS = {code: {"description": text} for code, text in (
    (401, "No, unknown or revoked token"), (403, "Not an auditor token"), (404, "Unknown prediction or version"),
    (422, "A bad query parameter"))}
BAD_VERSION = "version '{version}': a number (1, 2, ...), 'latest' or 'production'; numbers in the digits 0-9, at most 9 of them"


class HTTPProblem(Exception):
    """An error answer: its status, its ``detail`` and any headers."""

    def __init__(self, status: int, detail: Any, headers: dict[str, str] | None = None) -> None:
        self.status, self.detail, self.headers = status, detail, headers or {}


def install_audit_routes(app: FastAPI, state: AuditState) -> None:
    """Read-only, auditor token only. Sync routes: FastAPI runs them in its thread pool."""
    from govflow.governance.lineage.trace import Tracer
    from govflow.governance.trail.trace import trace_prediction

    def guarded(request: Request, what: str, **fields: Any) -> str:
        label = state.auth.auditor(request)
        log.info("audit.read", what=what, caller=label, **fields)
        return label

    @app.get("/audit/predictions/{prediction_id}", tags=["audit"], summary="Trace one prediction",
             responses=AUDIT_ERRORS)  # type: ignore[arg-type]
    def audit_prediction(prediction_id: str, request: Request) -> dict[str, Any]:
        """Prediction → model version → gate decision and approvals → training run → training data →
        the checks at approval. The id may be the request id of a single-record request."""
        guarded(request, "prediction")
        with state.ledger.read() as conn:
            try:
                return trace_prediction(conn, prediction_id)
            except InputError as e:
                raise HTTPProblem(404, str(e)) from None

    @app.get("/audit/predictions", tags=["audit"], summary="List predictions (newest first), without their inputs",
             responses=AUDIT_ERRORS)  # type: ignore[arg-type]
    def audit_predictions(request: Request, system: str | None = None, since: str | None = None,
                          until: str | None = None, limit: int = 100) -> dict[str, Any]:
        guarded(request, "predictions")
        return list_predictions(state.ledger, system=system, since=since, until=until, limit=limit)

    @app.get("/audit/models/{name}/{version}", tags=["audit"], summary="Trace a model version",
             responses=AUDIT_ERRORS)  # type: ignore[arg-type]
    def audit_model(name: str, version: str, request: Request) -> dict[str, Any]:
        """How it was made, its checks, decisions, approvals and documents, and where it was used.
        ``version`` is a number, ``latest`` or ``production``."""
        guarded(request, "model")
        if version not in ("latest", "production") and not (version.isascii() and version.isdigit() and len(version) < 10):
            raise HTTPProblem(422, BAD_VERSION.format(version=version))
        with state.ledger.read() as conn:
            try:
                ref = registry.resolve(conn, f"{name}:{version}")
            except InputError as e:
                raise HTTPProblem(404, str(e)) from None
            return Tracer(conn).trace_model(ref.id).to_dict()

    @app.get("/audit/head", tags=["audit"], summary="The ledger's chain head (compare with `govflow verify`)",
             responses=AUDIT_ERRORS)  # type: ignore[arg-type]
    def audit_head(request: Request) -> dict[str, Any]:
        guarded(request, "head")
        seq, head = state.ledger.head()
        return {"seq": seq, "entry_hash": head, "ledger_id": state.ledger.ledger_id()}


def list_predictions(ledger: Ledger, *, system: str | None, since: str | None, until: str | None,
                     limit: int) -> dict[str, Any]:
    from datetime import UTC, datetime

    from sqlalchemy import select

    from govflow.governance.ledger.schema import Prediction

    if not 1 <= limit <= 1000:
        raise HTTPProblem(422, [{"loc": ["query", "limit"], "msg": "limit: between 1 and 1000", "type": "range"}])
    query = select(Prediction).order_by(Prediction.served_at.desc(), Prediction.id.desc()).limit(limit)
    for name, text, op in (("since", since, "ge"), ("until", until, "lt")):
        if text is None:
            continue
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                raise ValueError("no time zone")
            moment = moment.astimezone(UTC)  # as it is stored; past year 1 or 9999 in UTC is no time
        except (ValueError, OverflowError):
            raise HTTPProblem(422, [{"loc": ["query", name], "msg": f"{name}: an RFC 3339 time with a zone, "
                                     "e.g. 2026-01-31T00:00:00Z", "type": "datetime"}]) from None
        query = query.where(Prediction.served_at >= moment if op == "ge" else Prediction.served_at < moment)
    if system:
        query = query.where(Prediction.system == system)
    with ledger.read() as conn:
        rows = conn.execute(query).mappings().all()
    return {"predictions": [{"id": r["id"], "request_id": r["request_id"], "system": r["system"],
                             "model_version_id": r["model_version_id"], "output": json.loads(r["output_json"]),
                             "served_at": canon.format_ts(r["served_at"]), "caller": r["caller"],
                             "latency_ms": r["latency_ms"], "payload_hash": r["payload_hash"],
                             "audit_seq": r["audit_seq"]} for r in rows]}


def render_docs(spec: dict[str, Any]) -> str:
    """The OpenAPI document as one self-contained HTML page (Swagger UI would load from a CDN: no
    network at run time). The machine-readable spec is at /openapi.json."""
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(spec['info']['title'])} API</title>",
             "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
             "code,pre{background:#f4f4f4;padding:2px 4px}.m{font-weight:bold;display:inline-block;width:4em}"
             "section{border-top:1px solid #ddd;padding:.5em 0}</style></head><body>",
             f"<h1>{e(spec['info']['title'])} API</h1><p>{e(spec['info'].get('description', ''))}</p>",
             "<p>Machine-readable: <a href='/openapi.json'>/openapi.json</a>. Tokens: "
             "<code>Authorization: Bearer &lt;secret&gt;</code> (made with <code>govflow token create</code>).</p>"]
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            parts.append(f"<section><h3><span class='m'>{e(method.upper())}</span> <code>{e(path)}</code></h3>"
                         f"<p>{e(op.get('summary', ''))}</p><p>{e(op.get('description', ''))}</p>")
            params = op.get("parameters", [])
            if params:
                parts.append("<p>Parameters: " + ", ".join(
                    f"<code>{e(p['name'])}</code> ({e(p['in'])}{', required' if p.get('required') else ''})"
                    for p in params) + "</p>")
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            if "example" in body:
                parts.append("<p>Body, e.g.:</p><pre>" + e(json.dumps(body["example"], indent=1)) + "</pre>")
            codes = ", ".join(f"{e(str(c))} {e(r.get('description', ''))}" for c, r in op.get("responses", {}).items())
            parts.append(f"<p>Responses: {codes}</p></section>")
    parts.append("</body></html>")
    return "".join(parts)
