"""The read-only auditor API of `govflow serve` (``/audit/...``, auditor token only) and the
offline API reference page (``/docs``)."""

from __future__ import annotations

import html
import json
from typing import Any, Protocol

import structlog
from fastapi import FastAPI, Query, Request

from govflow.errors import InputError
from govflow.governance.ledger.engine import Ledger
from govflow.governance.registry import versions as registry
from govflow.web.pretty import for_reader


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
EXPLANATION_ERRORS = {**AUDIT_ERRORS, 410: {"description": "The input was erased before any explanation was given"}}
BAD_VERSION = "version '{version}': a number (1, 2, ...), 'latest' or 'production'; numbers in the digits 0-9, at most 9 of them"


class HTTPProblem(Exception):
    """An error answer: its status, its ``detail`` and any headers."""

    def __init__(self, status: int, detail: Any, headers: dict[str, str] | None = None) -> None:
        self.status, self.detail, self.headers = status, detail, headers or {}


def install_audit_routes(app: FastAPI, state: AuditState) -> None:
    """Read-only, auditor token only. Sync routes: FastAPI runs them in its thread pool."""
    from govflow.governance.lineage.trace import Tracer
    from govflow.governance.trail.trace import trace_prediction

    guarded = _guard(state)

    @app.get("/audit/predictions/{prediction_id}", tags=["audit"], summary="Trace one prediction",
             responses=AUDIT_ERRORS)  # type: ignore[arg-type]
    def audit_prediction(prediction_id: str, request: Request) -> dict[str, Any]:
        """Prediction → model version → gate decision and approvals → training run → training data →
        the checks at approval. The id may be the request id of a single-record request."""
        guarded(request, "prediction")
        with state.ledger.read() as conn:
            try:
                found = trace_prediction(conn, prediction_id)
            except InputError as e:
                raise HTTPProblem(404, str(e)) from None
        return for_reader(request, f"prediction {prediction_id}", found)  # type: ignore[no-any-return]

    @app.get("/audit/predictions", tags=["audit"], summary="Search predictions (newest first), without their inputs",
             responses=AUDIT_ERRORS)  # type: ignore[arg-type]
    def audit_predictions(request: Request, system: str | None = None, version: str | None = None,
                          since: str | None = None, until: str | None = None, decision: str | None = None,
                          score_min: str | None = None, score_max: str | None = None,
                          group: list[str] = Query(default=[]), subject_id: str | None = None,  # noqa: B008
                          request_id: str | None = None, item: str | None = None, user: str | None = None,
                          out_of_domain: str | None = None, limit: str = "100",
                          cursor: str | None = None, budget: str | None = None) -> dict[str, Any]:
        """Every filter of `govflow predictions search` (``group`` repeats; ``budget``: 2s or 50000rows); the
        answer's ``next_cursor`` gives the next page (with ``partial``, ``searched_back_to`` when cut short)."""
        params = {"system": system, "version": version, "since": since, "until": until, "decision": decision,
                  "score_min": score_min, "score_max": score_max, "group": group, "subject_id": subject_id,
                  "request_id": request_id, "item": item, "user": user, "out_of_domain": out_of_domain,
                  "limit": limit, "cursor": cursor, "budget": budget}
        guarded(request, "predictions", **{k: v for k, v in params.items() if v not in (None, [])})
        return for_reader(request, "predictions", list_predictions(state.ledger, params))  # type: ignore[no-any-return]

    @app.get("/audit/predictions/{prediction_id}/explanation", tags=["audit"], summary="Explain one decision",
             responses=EXPLANATION_ERRORS)  # type: ignore[arg-type]
    def audit_explanation(prediction_id: str, request: Request) -> dict[str, Any]:
        """The features that pushed the decision most, from its recorded input and the exact model
        version; the first explanation is recorded in the ledger."""
        from govflow.flows.models.explaining import explain_prediction
        from govflow.governance.trail.explain import PayloadErased
        from govflow.governance.trail.trace import UNKNOWN_PREDICTION

        label = guarded(request, "explanation", prediction=prediction_id)
        try:
            return explain_prediction(state.ledger, prediction_id, by=f"auditor {label}")
        except PayloadErased as e:
            raise HTTPProblem(410, str(e)) from None
        except InputError as e:
            unknown = str(e) == UNKNOWN_PREDICTION.format(given=prediction_id)
            raise HTTPProblem(404 if unknown else 422, str(e)) from None

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
            found = Tracer(conn).trace_model(ref.id).to_dict()
        return for_reader(request, f"model {name}:{version}", found)  # type: ignore[no-any-return]

    @app.get("/audit/head", tags=["audit"], summary="The ledger's chain head (compare with `govflow verify`)",
             responses=AUDIT_ERRORS)  # type: ignore[arg-type]
    def audit_head(request: Request) -> dict[str, Any]:
        guarded(request, "head")
        head = dict(zip(("seq", "entry_hash"), state.ledger.head()), ledger_id=state.ledger.ledger_id())
        return for_reader(request, "chain head", head)  # type: ignore[no-any-return]

    install_lookup_routes(app, state)


def _guard(state: AuditState) -> Any:
    """``guarded(request, what, **fields)``: the auditor's label, each read logged (never a value read)."""

    def guarded(request: Request, what: str, **fields: Any) -> str:
        label = state.auth.auditor(request)
        log.info("audit.read", what=what, caller=label, **fields)
        return label

    return guarded


def install_lookup_routes(app: FastAPI, state: AuditState) -> None:
    """A run and an incident by id, where the dashboard's flags and panels link."""
    from govflow.governance.lineage.trace import Tracer

    guarded = _guard(state)

    @app.get("/audit/runs/{run_id}", tags=["audit"], summary="Trace a run (a training, gate or monitoring run)",
             responses=AUDIT_ERRORS)  # type: ignore[arg-type]
    def audit_run(run_id: str, request: Request) -> dict[str, Any]:
        """The run with its flow, steps and checks, what it took and what it produced (as `govflow trace run`).
        The id may be a unique prefix of at least 8 characters."""
        from govflow.governance.lineage.graph import resolve_run

        guarded(request, "run", run=run_id)
        with state.ledger.read() as conn:
            try:
                found = Tracer(conn).trace_run(resolve_run(conn, run_id)).to_dict()
            except InputError as e:
                raise HTTPProblem(404, str(e)) from None
        return for_reader(request, f"run {run_id}", found)  # type: ignore[no-any-return]

    @app.get("/audit/incidents/{incident_id}", tags=["audit"], summary="One incident and its timeline",
             responses=AUDIT_ERRORS)  # type: ignore[arg-type]
    def audit_incident(incident_id: str, request: Request) -> dict[str, Any]:
        """As `govflow incident show`: kind, severity, the Art. 73 deadline, state and every event."""
        from govflow.governance.monitoring import incidents

        guarded(request, "incident", incident=incident_id)
        with state.ledger.read() as conn:
            try:
                found = incidents.get(conn, incidents.resolve(conn, incident_id)).to_dict()
            except InputError as e:
                raise HTTPProblem(404, str(e)) from None
        return for_reader(request, f"incident {incident_id}", found)  # type: ignore[no-any-return]


def list_predictions(ledger: Ledger, params: dict[str, Any]) -> dict[str, Any]:
    """One page of `govflow.governance.trail.search` (a bad filter is a 422 saying how to write it)."""
    from govflow.governance.trail.search import parse_budget, parse_query, search_predictions
    from govflow.governance.trail.search_scope import UnrecordedAttribute

    try:
        query = parse_query(params)
        budget = parse_budget(params.get("budget"))
        with ledger.read() as conn:
            return search_predictions(conn, query, budget=budget).to_dict()
    except UnrecordedAttribute as e:  # well formed, but the system can hold no such row
        raise HTTPProblem(400, str(e)) from None
    except InputError as e:
        field = str(e).split(":", 1)[0]
        raise HTTPProblem(422, [{"loc": ["query", field], "msg": str(e), "type": "value_error"}]) from None


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
