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

This module assembles the app and runs it; the pieces: `govflow.web.auth` (tokens), `.state` (the
versions being served), `.predict` (the prediction routes), `.audit` (the auditor API), `.guard`
(body limits, cross-site requests), `.workers` (batch scoring, group commit).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from govflow.errors import InputError
from govflow.flows.anchoring import PeriodicAnchor
from govflow.governance.access import tokens
from govflow.governance.ledger.anchor_settings import resolve as resolve_anchors
from govflow.governance.ledger.engine import Ledger
from govflow.web.audit import HTTPProblem, install_audit_routes, render_docs
from govflow.web.auth import (  # noqa: F401  (re-exported: where tests and instrument.py look for them)
    LOOPBACK,
    REVOKED_TOKEN,
    TOKEN_REFRESH_S,
    TOKENS_UNAVAILABLE,
    Auth,
)
from govflow.web.guard import RequestGuard
from govflow.web.predict import (  # noqa: F401  (re-exported, as above)
    MAX_BATCH,
    MAX_BODY,
    REQUEST_ID,
    install_predict_routes,
    json_response,
    parse_records,
)
from govflow.web.state import Models, ServeState
from govflow.web.workers import BatchScorer, Checkpointer, GroupCommitter

SWITCH_INTERVAL_S = 0.0005  # see `run`

log = structlog.get_logger("govflow.serve")


# Callables ``install(app, state)`` that add routes to every app `create_app` builds (the dashboard).
def _dashboard(app: FastAPI, state: ServeState) -> None:
    """`/dashboard` (govflow/web/dashboard.py), imported here so plotly loads only when an app is built."""
    from govflow.web.dashboard import install

    install(app, state)


EXTENSIONS: list[Callable[[FastAPI, ServeState], None]] = [_dashboard]


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
        return json_response({"detail": exc.detail}, exc.status, exc.headers)

    @app.get("/health", tags=["service"], summary="Liveness")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "recording": record, "started_at": state.started_at}

    install_predict_routes(app, state)
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
