"""`govflow serve`: the prediction API and the read-only auditor API (FastAPI + uvicorn).

``POST /predict/{system}`` takes one record (a JSON object of feature values, plus optional
``"sensitive": {...}`` and ``"subject_id"``), a list of records, or ``{"records": [...]}`` (at most
`MAX_BATCH`), checks each against the input schema of the version in production, scores, and answers
only once every prediction is durable in the ledger. Concurrent requests are committed together:
one writer thread (`GroupCommitter`) takes what has queued up while the previous commit ran and
writes it as one transaction with one audit entry (on PostgreSQL through a writer process of its
own, `govflow.web.writer_process`), then releases the waiting requests. In that same
transaction it checks the version is still in production, so no answer of a suspended or replaced
version is ever confirmed (those requests get 503 and may retry).

Status codes: 200 served and recorded; 400 not JSON, or a bad ``X-Request-ID``; 401 no, unknown or
revoked token; 403 a token of the wrong role, or a request sent by a page of another site
(`govflow.web.guard`); 404 unknown system or prediction; 413 too many records or too large a body
(refused as it arrives); 415 a body that is not ``application/json``; 422 a record that does not fit, naming the field (``detail`` as FastAPI gives it: a
list of ``{loc, msg, type}``); 503 no version in production (with the reason), or the ledger could
not be written (nothing is served unrecorded), or its token table could not be read (no request
passes unchecked).

Tokens (`govflow.governance.access.tokens`): with none created, only 127.0.0.1 is served and ``/predict`` needs no
token (the caller is logged as ``anonymous@<client address>``); once any exists, ``/predict`` needs
an operator token (the caller is its label). ``/audit/...`` always needs an auditor token. A token
revoked with `govflow token revoke` (by any process) is refused with 401 within `TOKEN_REFRESH_S`. Logs are
structured JSON through structlog: request ids, systems, versions, counts, status, latency; never a
token, a feature value or any other personal data.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError

from govflow import canonical as canon
from govflow.errors import ComplianceBlocked, InputError, LedgerError
from govflow.flows.anchoring import PeriodicAnchor
from govflow.flows.serving import NotInProduction, UnknownSystem, load_production
from govflow.governance.access import tokens
from govflow.governance.ledger.anchor_settings import resolve as resolve_anchors
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.ids import new_id
from govflow.governance.registry import versions as registry
from govflow.governance.trail import predictions as preds
from govflow.web.audit import HTTPProblem, install_audit_routes, render_docs
from govflow.web.guard import RequestGuard, bad_text, json_content_type, rebound_origin
from govflow.web.workers import BatchScorer, Checkpointer, GroupCommitter, LedgerUnavailable

MAX_BATCH = preds.MAX_BATCH
MAX_BODY = 16 * 1024 * 1024  # bytes per request body
REFRESH_S = 1.0  # how often the production version of a served system is re-checked
TOKEN_REFRESH_S = tokens.CACHE_S  # the longest a revoked token is still honoured
SWITCH_INTERVAL_S = 0.0005  # see `run`
LOOPBACK = ("127.0.0.1", "::1", "localhost")
REQUEST_ID = re.compile(r"[A-Za-z0-9._:@-]{1,64}")

NEED_OPERATOR = "this endpoint needs an operator token (Authorization: Bearer ...): create one with `govflow token create --role operator`"
NEED_AUDITOR = "auditor endpoints need an auditor token (Authorization: Bearer ...): create one with `govflow token create --role auditor`"
BAD_TOKEN = "unknown token: check the Authorization: Bearer header (tokens are shown once, by `govflow token create`)"
REVOKED_TOKEN = tokens.REVOKED
TOKENS_UNAVAILABLE = ("the token table could not be read from the ledger ({error}); no request is let through "
                      "unchecked: retry when the ledger is back (see `govflow verify`)")
WRONG_ROLE = "an {role} token cannot {action}; this needs an {needed} token"
NOT_JSON = "the request body is not valid JSON: {error}"
BAD_SHAPE = "expected one record (a JSON object), a list of records, or {{\"records\": [...]}}; got {got}"
EMPTY = "the batch is empty: send at least one record"
TOO_MANY = "a batch of {count} records is over the limit of {limit} per request: split it"
TOO_LARGE = "the request body is over {limit} bytes: split the batch"
BAD_REQUEST_ID = "X-Request-ID: use 1 to 64 letters, digits or . _ : @ -"
TOO_DEEP = "the request body is JSON nested more than the parser allows: send records as flat objects of feature values"

log = structlog.get_logger("govflow.serve")


# -- tokens --------------------------------------------------------------------------------------

class Auth:
    """Who is calling, from the Authorization header.

    The token table (a few rows) is cached for ``refresh_s`` seconds (`tokens.CACHE_S`, 1 s): a
    token revoked by any process (`govflow token revoke`) is refused by every request that starts
    more than that after the revocation committed. The hot path is then a sha256 and a dict lookup
    (~1 us). Measured per request instead, an indexed SELECT through a pooled connection costs
    0.15 ms on SQLite and 1.7 ms wall (0.55 ms CPU, on the event loop) on PostgreSQL; the reload,
    once a second, 0.3 ms and 1 ms. A reload that fails fails the request: no token outlives its bound.
    """

    def __init__(self, ledger: Ledger, *, refresh_s: float = TOKEN_REFRESH_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ledger = ledger
        self.refresh_s = refresh_s
        self.clock = clock
        self._all: dict[str, tokens.TokenInfo] = {}
        self._loaded: float | None = None
        self._lock = threading.Lock()

    def _table(self) -> dict[str, tokens.TokenInfo]:
        """Every token by the hash of its secret, revoked ones included; at most ``refresh_s`` old."""
        now = self.clock()
        if self._loaded is None or now - self._loaded >= self.refresh_s:
            with self._lock:
                if self._loaded is None or now - self._loaded >= self.refresh_s:
                    started = self.clock()  # the age counts from before the read
                    try:
                        with self.ledger.read() as conn:
                            every = tokens.all_tokens(conn)
                    except (LedgerError, SQLAlchemyError) as e:
                        raise HTTPProblem(503, TOKENS_UNAVAILABLE.format(error=str(e).splitlines()[0]),
                                          {"Retry-After": "1"}) from e
                    self._all = every
                    self._loaded = started
        return self._all

    def lookup(self, secret: str) -> tokens.TokenInfo | None:
        """The token a secret belongs to, revoked or not (the dashboard's check); None when unknown."""
        return self._table().get(tokens.hash_secret(secret))

    def _presented(self, request: Request) -> tokens.TokenInfo | None:
        header = request.headers.get("authorization")
        if not header:
            return None
        scheme, _, secret = header.partition(" ")
        info = self._table().get(tokens.hash_secret(secret.strip())) if scheme.lower() == "bearer" else None
        if info is None:
            raise HTTPProblem(401, BAD_TOKEN, {"WWW-Authenticate": "Bearer"})
        if info.revoked_at is not None:
            raise HTTPProblem(401, REVOKED_TOKEN.format(label=info.label, at=info.revoked_at),
                              {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return info

    def operator(self, request: Request) -> str:
        """The caller identity for /predict: the token's label, or anonymous while no token exists."""
        info = self._presented(request)
        if info is None:
            host = request.client.host if request.client else "unknown"
            if self._table() or host not in LOOPBACK:  # revoked tokens count: revoking all does not reopen
                raise HTTPProblem(401, NEED_OPERATOR, {"WWW-Authenticate": "Bearer"})
            if (rebound := rebound_origin(request.headers.get("origin"))) is not None:
                raise HTTPProblem(403, rebound)
            return f"anonymous@{host}"
        if info.role != "operator":
            raise HTTPProblem(403, WRONG_ROLE.format(role=info.role, action="request predictions", needed="operator"))
        return info.label

    def auditor(self, request: Request) -> str:
        info = self._presented(request)
        if info is None:
            raise HTTPProblem(401, NEED_AUDITOR, {"WWW-Authenticate": "Bearer"})
        if info.role != "auditor":
            raise HTTPProblem(403, WRONG_ROLE.format(role=info.role, action="read the audit endpoints", needed="auditor"))
        return info.label


# -- the production versions being served ----------------------------------------------------------

class Models:
    """The `ServedModel` of each system, re-checked against the ledger every `REFRESH_S` seconds.

    ``loader`` builds what is cached from the production version (`load_production`; the
    instrumentation of a user's own app, `govflow.web`, loads the schema without the model)."""

    def __init__(self, ledger: Ledger, loader: Callable[[Ledger, str], Any] = load_production) -> None:
        self.ledger = ledger
        self.loader = loader
        self._cache: dict[str, tuple[Any, float]] = {}
        self._lock = threading.Lock()

    def get(self, system: str) -> Any:  # a ServedModel with the default loader
        now = time.monotonic()
        cached = self._cache.get(system)
        if cached is not None and now - cached[1] < REFRESH_S:
            return cached[0]
        with self._lock:
            if cached is not None:
                with self.ledger.read() as conn:
                    current = registry.production_version(conn, system)
                if current is not None and current.id == cached[0].version.id:
                    self._cache[system] = (cached[0], now)
                    return cached[0]
            try:
                served = self.loader(self.ledger, system)
            except (UnknownSystem, NotInProduction):
                self._cache.pop(system, None)
                raise
            self._cache[system] = (served, now)
            log.info("model.loaded", system=system, model_version=str(served.version))
            return served

    def forget(self, system: str) -> None:
        self._cache.pop(system, None)


# -- request parsing -------------------------------------------------------------------------------

def parse_records(body: bytes) -> tuple[list[Any], bool]:
    """``(records, is_batch)`` from a body; `HTTPProblem` for anything else."""
    if len(body) > MAX_BODY:
        raise HTTPProblem(413, TOO_LARGE.format(limit=MAX_BODY))
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise HTTPProblem(400, NOT_JSON.format(error=str(e).splitlines()[0])) from None
    except RecursionError:
        raise HTTPProblem(400, TOO_DEEP) from None
    if (unstorable := bad_text(body, data)) is not None:
        raise HTTPProblem(400, unstorable)
    if isinstance(data, dict) and set(data) == {"records"}:
        data = data["records"]
        if not isinstance(data, list):
            raise HTTPProblem(422, [{"loc": ["body", "records"], "msg": BAD_SHAPE.format(got=preds._json_type(data)),
                                     "type": "shape"}])
    if isinstance(data, dict):
        return [data], False
    if not isinstance(data, list):
        raise HTTPProblem(422, [{"loc": ["body"], "msg": BAD_SHAPE.format(got=preds._json_type(data)), "type": "shape"}])
    if not data:
        raise HTTPProblem(422, [{"loc": ["body", "records"], "msg": EMPTY, "type": "empty"}])
    if len(data) > MAX_BATCH:
        raise HTTPProblem(413, TOO_MANY.format(count=len(data), limit=MAX_BATCH))
    return data, True


# -- OpenAPI models (documentation of the responses) -----------------------------------------------

class PredictionOut(BaseModel):
    """One record's answer: its prediction id and the model's output (a classifier's shown; a
    recommender answers ``items``, ``scores`` and ``cold_start`` instead)."""

    prediction_id: str = Field(description="Trace it: `govflow trace prediction ID` or GET /audit/predictions/ID.")
    decision: int | None = Field(None, description="1 = the favourable outcome (the config's positive_label), 0 = not.")
    score: float | None = Field(None, description="The model's probability of the favourable outcome.")


class PredictResponse(BaseModel):
    request_id: str = Field(description="Also in the X-Request-ID header; traces a single-record request.")
    system: str
    model_version: str = Field(description="NAME:VERSION of the version in production that answered.")
    model_version_id: str
    positive_label: Any = Field(None, description="A classifier's: what decision 1 means.")
    recorded: bool = Field(description="True: every prediction is durable in the ledger.")
    predictions: list[PredictionOut]


RECORD_EXAMPLE = {"duration_in_month": 12, "credit_amount": 2500, "purpose": "car (new)",
                  "sensitive": {"personal_status_and_sex": "female : divorced/separated/married", "age_in_years": 31},
                  "subject_id": "applicant-1042"}
PREDICT_BODY = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": {"oneOf": [
        {"type": "object", "description": "One record: feature values by name (see GET /predict/{system}/schema), "
                                          "plus optional 'sensitive' (object) and 'subject_id' (string)."},
        {"type": "array", "items": {"type": "object"}, "maxItems": MAX_BATCH, "description": "A batch of records."},
        {"type": "object", "properties": {"records": {"type": "array", "items": {"type": "object"}, "maxItems": MAX_BATCH}},
         "required": ["records"], "description": "A batch of records."}]},
    "example": RECORD_EXAMPLE}}}}
ERRORS = {code: {"description": text} for code, text in (
    (400, "Not JSON, or a bad X-Request-ID"), (401, "No, unknown or revoked token"),
    (403, "A token of the wrong role, or a request from a page of another site"),
    (415, "A body that is not Content-Type: application/json"),
    (404, "Unknown system"), (413, f"More than {MAX_BATCH} records, or a body over {MAX_BODY} bytes"),
    (422, "A record does not fit the input schema; each error names its field"),
    (503, "No version in production (with the reason), the ledger could not be written, or its tokens read"))}


# -- the app ---------------------------------------------------------------------------------------

@dataclass
class ServeState:
    """What the routes share; extensions (e.g. the dashboard) reach it as ``app.state.govflow``."""

    ledger: Ledger
    auth: Auth
    models: Models
    committer: GroupCommitter
    scorer: BatchScorer
    record: bool
    started_at: str = field(default_factory=lambda: canon.format_ts(canon.utc_now()))


# Callables ``install(app, state)`` that add routes to every app `create_app` builds (the dashboard).
def _dashboard(app: FastAPI, state: ServeState) -> None:
    """`/dashboard` (govflow/web/dashboard.py), imported here so plotly loads only when an app is built."""
    from govflow.web.dashboard import install

    install(app, state)


EXTENSIONS: list[Callable[[FastAPI, ServeState], None]] = [_dashboard]


def _json(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(content, ensure_ascii=False), status_code=status, media_type="application/json",
                    headers=headers)


def create_app(ledger: Ledger, *, benchmark_baseline_unrecorded: bool = False,
               extensions: Sequence[Callable[[FastAPI, ServeState], None]] | None = None,
               writer_process: bool | None = None) -> FastAPI:
    """The app. ``benchmark_baseline_unrecorded=True`` serves WITHOUT recording anything: it exists only
    as the baseline of ``bench/bench_serving.py`` (the cost of the audit trail); `govflow serve` never
    sets it, and every response then says ``"recorded": false``. ``writer_process``: commit in a child
    process (default: on PostgreSQL, or as ``GOVFLOW_SERVE_WRITER=thread|process`` says; see
    `GroupCommitter`)."""
    record = not benchmark_baseline_unrecorded
    if writer_process is None and os.environ.get("GOVFLOW_SERVE_WRITER", "").lower() in ("thread", "process"):
        writer_process = os.environ["GOVFLOW_SERVE_WRITER"].lower() == "process"
    committer = GroupCommitter(ledger, writer_process=writer_process)
    # A model call makes way for a commit only where both share this process's GIL (see BatchScorer).
    scorer = BatchScorer(yield_to=committer if committer.in_process else None)
    state = ServeState(ledger, Auth(ledger), Models(ledger), committer, scorer, record)
    checkpointer = Checkpointer(ledger)
    anchorer = PeriodicAnchor(ledger, resolve_anchors())  # the head, published off the request path

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        log.info("serve.started", ledger=ledger.url, recording=record)
        if record:
            checkpointer.start()
            state.committer.start()
            anchorer.start()
        yield
        state.committer.stop()
        state.scorer.stop()
        checkpointer.stop()
        anchorer.stop()
        log.info("serve.stopped", commits=state.committer.batches, model_calls=state.scorer.calls,
                 rows_scored=state.scorer.rows)

    app = FastAPI(title="govflow", version="1", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Predictions from the model versions in production, every one recorded in the "
                              "govflow ledger; read-only audit endpoints for auditors.")
    app.state.govflow = state
    app.add_middleware(RequestGuard, max_body=MAX_BODY)  # type: ignore[arg-type]

    @app.exception_handler(HTTPProblem)
    async def _problem(request: Request, exc: HTTPProblem) -> Response:
        return _json({"detail": exc.detail}, exc.status, exc.headers)

    @app.get("/health", tags=["service"], summary="Liveness")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "recording": record, "started_at": state.started_at}

    @app.post("/predict/{system}", tags=["predictions"], summary="Predict with the version in production",
              response_model=PredictResponse, openapi_extra=PREDICT_BODY, responses=ERRORS)  # type: ignore[arg-type]
    async def predict(system: str, request: Request) -> Response:
        started = time.perf_counter()
        request_id = request.headers.get("x-request-id") or new_id()
        fields: dict[str, Any] = {"request_id": request_id, "system": system}
        try:
            if not REQUEST_ID.fullmatch(request_id):
                request_id = fields["request_id"] = new_id()
                raise HTTPProblem(400, BAD_REQUEST_ID)
            if (not_json := json_content_type(request.headers.get("content-type"))) is not None:
                raise HTTPProblem(415, not_json)
            caller = state.auth.operator(request)
            records, is_batch = parse_records(await request.body())
            fields["records"] = len(records)
            try:
                served = state.models.get(system)
            except UnknownSystem as e:
                raise HTTPProblem(404, str(e)) from None
            except NotInProduction as e:
                raise HTTPProblem(503, str(e), {"Retry-After": "30"}) from None
            except ComplianceBlocked as e:
                raise HTTPProblem(503, str(e)) from None
            fields["model_version"] = str(served.version)
            try:
                valid = served.schema.validate(records, batch=is_batch)
            except preds.RecordError as e:
                fields["fields_at_fault"] = sorted({str(loc[-1]) for loc, _, _ in e.errors})
                raise HTTPProblem(422, [{"loc": list(loc), "msg": msg, "type": kind} for loc, msg, kind in e.errors]) from None
            outputs = await state.scorer.predict(served, valid)
            served_at = canon.utc_now()
            latency = (time.perf_counter() - started) * 1000
            version_id = served.version.id
            logged = [preds.make_record(request_id=request_id, system=system, model_version_id=version_id, output=out,
                                        valid=v, latency_ms=latency, served_at=served_at, caller=caller,
                                        redaction=served.redaction) for v, out in zip(valid, outputs)]
            if record:
                try:
                    refused = await state.committer.submit(logged, {version_id: str(served.version)})
                except LedgerUnavailable as e:
                    raise HTTPProblem(503, str(e)) from None
                if refused:
                    state.models.forget(system)
                    raise HTTPProblem(503, next(iter(refused.values())), {"Retry-After": "1"})
        except HTTPProblem as problem:
            problem.headers["X-Request-ID"] = request_id
            log.info("predict", status=problem.status, ms=round((time.perf_counter() - started) * 1000, 2), **fields)
            raise
        body = {"request_id": request_id, "system": system, "model_version": str(served.version),
                "model_version_id": version_id, "recorded": record,
                "predictions": [{"prediction_id": r.id, **out} for r, out in zip(logged, outputs)]}
        data = getattr(served.config, "data", None)
        if hasattr(data, "positive_label"):  # a classifier: what decision 1 means
            body["positive_label"] = data.positive_label  # type: ignore[union-attr]
        log.info("predict", status=200, ms=round((time.perf_counter() - started) * 1000, 2), caller=caller, **fields)
        return _json(body, headers={"X-Request-ID": request_id})

    @app.get("/predict/{system}/schema", tags=["predictions"], summary="The input schema of the version in production",
             responses=ERRORS)  # type: ignore[arg-type]
    def input_schema(system: str, request: Request) -> dict[str, Any]:
        state.auth.operator(request)
        try:
            return state.models.get(system).schema.to_dict()
        except UnknownSystem as e:
            raise HTTPProblem(404, str(e)) from None
        except NotInProduction as e:
            raise HTTPProblem(503, str(e)) from None

    install_audit_routes(app, state)
    for install in (EXTENSIONS if extensions is None else extensions):
        install(app, state)

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(render_docs(app.openapi()))

    return app


# -- running it ------------------------------------------------------------------------------------

NO_TOKENS_PUBLIC = ("no API token exists, so serve listens on 127.0.0.1 only (anyone who can reach it could "
                    "request predictions); create an operator token first: govflow token create --role operator")


def configure_logging() -> None:
    """Structured JSON logs on stderr (one object per line), in Elastic Common Schema names
    (`govflow.governance.trail.ecs`): log shippers send them as they are."""
    import logging

    from govflow.governance.trail.ecs import processors

    structlog.configure(
        processors=processors("govflow-serve"),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr), cache_logger_on_first_use=True)
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)


def check_host(ledger: Ledger, host: str) -> None:
    if host in LOOPBACK:
        return
    with ledger.read() as conn:
        if not tokens.all_tokens(conn):
            raise InputError(NO_TOKENS_PUBLIC)


def run(ledger: Ledger, *, host: str = "127.0.0.1", port: int = 8000,
        on_ready: Callable[[str], None] | None = None, app: FastAPI | None = None) -> None:
    """Serve until SIGINT/SIGTERM; queued predictions are committed before the process ends.
    ``app`` replaces `create_app(ledger)` (the benchmark passes its baseline, under the same server)."""
    import uvicorn

    from govflow.web.sockets import listen

    check_host(ledger, host)
    configure_logging()
    # The writer thread gives up the GIL around each SQLite/PostgreSQL call and must win it back
    # from the busy event loop; at the default 5 ms switch interval a commit of a few statements
    # waits tens of milliseconds for it, and every waiting request with it.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    app = app or create_app(ledger)
    sock = listen(host, port)  # bound here: a busy port is exit 2, and "serving" is said only once it listens
    config = uvicorn.Config(app, host=host, port=port, access_log=False, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    if on_ready:
        on_ready(f"http://{host}:{port}")
    server.run(sockets=[sock])
