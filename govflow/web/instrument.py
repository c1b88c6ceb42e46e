"""The audit trail inside a team's own FastAPI (or any ASGI) app: `instrument(app, system=...)`.

Every POST to a prediction route (``routes``) goes through `GovflowMiddleware`, with the guarantees
of `govflow serve` (`govflow.web.app`), from the same pieces:

1. the request id: ``X-Request-ID`` as sent (1 to 64 of ``A-Za-z0-9._:@-``, else 400), or a new one;
   it is sent back in ``X-Request-ID``;
2. the system's version in production, looked up in the ledger (cached, re-checked every second,
   `govflow.web.app.Models`). None in production: 503 with the reason, and the app is NOT called;
3. the records taken from the JSON body (``inputs``; by default one record, a list of records or
   ``{"records": [...]}``, as ``POST /predict`` takes them) and checked against that version's input
   schema (`govflow.governance.trail.predictions.InputSchema`): a record that does not fit is 422, naming its
   field, and the app is not called. A value outside the training range or set follows the version's
   ``serving.out_of_domain``, as in `govflow serve`: ``flag`` (the default) calls the app and records the
   fields in the logged output (`govflow.governance.trail.input_schema.flag_out_of_domain`), ``reject`` is 422;
4. the app answers; a 2xx answer's JSON gives one output per record (``outputs``);
5. the records (payloads redacted as the version's ``logging.redact`` says, in the purgeable
   ``prediction_payloads`` table) are written by the group committer of `govflow serve`
   (`govflow.web.workers.GroupCommitter`: one transaction and one audit entry for all the
   requests waiting), which refuses, in that transaction, an answer of a version that left production;
6. only then is the app's answer sent, with ``X-Request-ID``, ``X-Model-Version`` (NAME:VERSION) and
   ``X-Prediction-ID`` (the ids, comma-separated, for `govflow trace prediction ID`). A failed write
   is 503: nothing is served unrecorded.

The app's own answers that are not 2xx pass through unrecorded (nothing was predicted). Other routes
and methods are not touched. Logs are structlog JSON lines (ids, system, version, status, latency;
never a feature value).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from govflow import canonical as canon
from govflow.errors import ComplianceBlocked, InputError
from govflow.flows.anchoring import PeriodicAnchor
from govflow.flows.serving import NotInProduction, UnknownSystem, config_of, input_schema, production_row
from govflow.governance.config import GovflowConfig
from govflow.governance.ledger.anchor_settings import resolve as resolve_anchors
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.ids import new_id
from govflow.governance.registry import versions as registry
from govflow.governance.trail import predictions as preds
from govflow.web.app import (
    MAX_BODY,
    REQUEST_ID,
    SWITCH_INTERVAL_S,
    Models,
    configure_logging,
    parse_records,
)
from govflow.web.audit import HTTPProblem
from govflow.web.guard import CROSS_SITE, TOO_LARGE, bad_text, cross_site, json_content_type
from govflow.web.workers import Checkpointer, GroupCommitter, LedgerUnavailable

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]
ASGIApp = Callable[[Scope, Receive, Send], Any]
Inputs = Callable[[Any], Sequence[Any]]
Outputs = Callable[[Any, int], Sequence[Any]]
Caller = Callable[[Scope], str]

DEFAULT_ROUTES = ("/predict",)
BAD_REQUEST_ID = "X-Request-ID: use 1 to 64 letters, digits or . _ : @ -"
NOT_JSON = "the request body is not valid JSON: {error}"
BAD_INPUTS = "the request's records could not be taken from its body ({error}); see instrument(inputs=...)"
RECOMMENDER = "{ref} is a recommender: govflow.web.instrument records classifier systems; serve it with govflow serve"
NO_OUTPUTS = ("govflow could not take {count} output(s) from the app's answer ({why}); nothing was recorded, so "
              "nothing is served: pass instrument(outputs=...) to say where the outputs are")

log = structlog.get_logger("govflow.web")


@dataclass(frozen=True)
class AnsweringVersion:
    """What the middleware needs of the version in production: the app brings its own model."""

    version: registry.VersionRef
    config: GovflowConfig
    schema: preds.InputSchema
    redaction: preds.Redaction


def load_answering(ledger: Ledger, system: str) -> AnsweringVersion:
    """The system's production version, its input schema and redaction; `UnknownSystem` /
    `NotInProduction` (the 503's reason) else. No model bytes are read."""
    ref, row = production_row(ledger, system)
    if json.loads(row["config_snapshot"]).get("kind") == "recommender":
        raise ComplianceBlocked(RECOMMENDER.format(ref=ref))
    config = config_of(row["config_snapshot"])
    schema = input_schema(ledger, ref, config, needs_sensitive=False)  # the app's model is its own affair
    return AnsweringVersion(ref, config, schema, preds.redaction_for(ledger.home, system, config.logging.redact))


def default_outputs(answer: Any, count: int) -> Sequence[Any]:
    """One output per record from the app's JSON answer: its ``"predictions"`` list, or the answer
    itself when it is a list; for a single record, the whole answer."""
    if isinstance(answer, dict) and isinstance(answer.get("predictions"), list):
        return answer["predictions"]  # type: ignore[no-any-return]
    if isinstance(answer, list):
        return answer
    if count == 1:
        return [answer]
    raise ValueError(f"expected a list or an object with a 'predictions' list, got {preds._json_type(answer)}")


def default_caller(scope: Scope) -> str:
    client = scope.get("client")
    return f"anonymous@{client[0] if client else 'unknown'}"


def _route_matcher(routes: Sequence[str]) -> Callable[[str], bool]:
    exact = frozenset(r for r in routes if not r.endswith("*"))
    prefixes = tuple(r[:-1] for r in routes if r.endswith("*"))
    return lambda path: path in exact or (bool(prefixes) and path.startswith(prefixes))


class Recorder:
    """What the middleware shares: the ledger, the production version cache, the group committer."""

    def __init__(self, ledger: Ledger, system: str, *, inputs: Inputs | None, outputs: Outputs,
                 caller: Caller) -> None:
        self.ledger, self.system = ledger, system
        self.inputs, self.outputs, self.caller = inputs, outputs, caller
        self.models = Models(ledger, loader=load_answering)
        self.committer = GroupCommitter(ledger)
        self.checkpointer = Checkpointer(ledger)
        self.anchorer = PeriodicAnchor(ledger, resolve_anchors())
        self.started = False

    def start(self) -> None:
        if self.started:
            return
        self.started = True
        if self.committer.in_process:  # see govflow.web.app.run: the writer thread must win the GIL back
            sys.setswitchinterval(SWITCH_INTERVAL_S)
        self.checkpointer.start()
        self.committer.start()
        self.anchorer.start()
        log.info("instrument.started", system=self.system, ledger=self.ledger.url)

    def stop(self) -> None:
        """Write what is queued; the process may end after this."""
        self.committer.stop()
        self.checkpointer.stop()
        self.anchorer.stop()
        log.info("instrument.stopped", system=self.system, commits=self.committer.batches)

    def records_of(self, body: bytes) -> tuple[list[Any], bool]:
        if self.inputs is None:
            return parse_records(body)
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError) as e:
            raise HTTPProblem(400, NOT_JSON.format(error=str(e).splitlines()[0] if str(e) else type(e).__name__)) from None
        if (unstorable := bad_text(body, data)) is not None:
            raise HTTPProblem(400, unstorable)
        try:
            found = self.inputs(data)
        except (KeyError, IndexError, TypeError, ValueError) as e:
            raise HTTPProblem(422, [{"loc": ["body"], "msg": BAD_INPUTS.format(error=e), "type": "shape"}]) from None
        if isinstance(found, dict):
            return [found], False
        records = list(found)
        if len(records) > preds.MAX_BATCH:
            raise HTTPProblem(413, f"a batch of {len(records)} records is over the limit of {preds.MAX_BATCH} per request: split it")
        return records, True

    def version(self) -> AnsweringVersion:
        try:
            return self.models.get(self.system)  # type: ignore[no-any-return]
        except NotInProduction as e:
            raise HTTPProblem(503, str(e), {"Retry-After": "30"}) from None
        except (UnknownSystem, ComplianceBlocked) as e:
            raise HTTPProblem(503, str(e)) from None

    async def record(self, answering: AnsweringVersion, request_id: str, valid: list[preds.ValidRecord],
                     outputs: Sequence[Any], latency: float, caller: str) -> list[str]:
        """The records, durable; their ids. `HTTPProblem` 503 when they could not be written."""
        served_at = canon.utc_now()
        ref = answering.version
        outputs = preds.flag_out_of_domain(list(outputs), valid)  # serving.out_of_domain: flag, as govflow serve
        logged = [preds.make_record(request_id=request_id, system=self.system, model_version_id=ref.id, output=out,
                                    valid=v, latency_ms=latency, served_at=served_at, caller=caller,
                                    redaction=answering.redaction) for v, out in zip(valid, outputs)]
        try:
            refused = await self.committer.submit(logged, {ref.id: str(ref)})
        except LedgerUnavailable as e:
            raise HTTPProblem(503, str(e)) from None
        if refused:
            self.models.forget(self.system)
            raise HTTPProblem(503, next(iter(refused.values())), {"Retry-After": "1"})
        return [r.id for r in logged]


async def _send_problem(send: Send, problem: HTTPProblem, request_id: str) -> None:
    body = json.dumps({"detail": problem.detail}, ensure_ascii=False).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"x-request-id", request_id.encode())]
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in problem.headers.items()]
    await send({"type": "http.response.start", "status": problem.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive, limit: int) -> bytes:
    """The whole body, refused (413) as soon as it passes ``limit``."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise HTTPProblem(400, "the client went away before the body was complete")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise HTTPProblem(413, TOO_LARGE.format(limit=limit))
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")  # type: ignore[no-any-return]
    return None


class GovflowMiddleware:
    """The ASGI middleware described in the module docstring."""

    def __init__(self, app: ASGIApp, *, recorder: Recorder, routes: Sequence[str] = DEFAULT_ROUTES) -> None:
        self.app = app
        self.recorder = recorder
        self.is_route = _route_matcher(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._lifespan_send(send))
        elif scope["type"] == "http" and scope["method"] == "POST" and self.is_route(scope["path"]):
            await self._predict(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def _lifespan_send(self, send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                self.recorder.start()
            elif message["type"] == "lifespan.shutdown.complete":
                self.recorder.stop()
            await send(message)
        return wrapped

    async def _predict(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        recorder = self.recorder
        request_id = _header(scope, b"x-request-id") or new_id()
        fields: dict[str, Any] = {"request_id": request_id, "system": recorder.system, "path": scope["path"]}
        try:
            if not REQUEST_ID.fullmatch(request_id):
                request_id = fields["request_id"] = new_id()
                raise HTTPProblem(400, BAD_REQUEST_ID)
            if (why := cross_site(scope)) is not None:
                raise HTTPProblem(403, CROSS_SITE.format(why=why))
            if (not_json := json_content_type(_header(scope, b"content-type"))) is not None:
                raise HTTPProblem(415, not_json)
            body = await _read_body(receive, MAX_BODY)
            records, is_batch = recorder.records_of(body)
            fields["records"] = len(records)
            answering = recorder.version()
            fields["model_version"] = str(answering.version)
            try:
                valid = answering.schema.validate(records, batch=is_batch)
            except preds.RecordError as e:
                fields["fields_at_fault"] = sorted({str(loc[-1]) for loc, _, _ in e.errors})
                raise HTTPProblem(422, [{"loc": list(loc), "msg": msg, "type": kind} for loc, msg, kind in e.errors]) from None
            start, chunks = await _call_app(self.app, scope, body, receive)
            status = int(start["status"])
            fields["app_status"] = status
            headers = [(k, v) for k, v in start.get("headers", []) if k != b"x-request-id"]
            headers.append((b"x-request-id", request_id.encode()))
            if 200 <= status < 300:
                outputs = _outputs_of(recorder.outputs, b"".join(chunks), len(valid))
                latency = (time.perf_counter() - started) * 1000
                ids = await recorder.record(answering, request_id, valid, outputs, latency, recorder.caller(scope))
                headers += [(b"x-model-version", str(answering.version).encode()),
                            (b"x-prediction-id", ",".join(ids).encode())]
        except HTTPProblem as problem:
            log.info("predict", status=problem.status, ms=round((time.perf_counter() - started) * 1000, 2), **fields)
            await _send_problem(send, problem, request_id)
            return
        await send({**start, "headers": headers})
        for i, chunk in enumerate(chunks or [b""]):
            await send({"type": "http.response.body", "body": chunk, "more_body": i < len(chunks) - 1})
        log.info("predict", status=status, recorded=200 <= status < 300,
                 ms=round((time.perf_counter() - started) * 1000, 2), **fields)


async def _call_app(app: ASGIApp, scope: Scope, body: bytes, receive: Receive) -> tuple[Message, list[bytes]]:
    """The app's answer to the request (its body replayed), held back: the start message and body."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # type: ignore[no-any-return]

    start: Message | None = None
    chunks: list[bytes] = []

    async def capture(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, replay, capture)
    if start is None:
        raise HTTPProblem(500, "the app ended without an answer")
    return start, chunks


def _outputs_of(extract: Outputs, body: bytes, count: int) -> Sequence[Any]:
    try:
        outputs = extract(json.loads(body), count)
    except (ValueError, KeyError, IndexError, TypeError, UnicodeDecodeError) as e:
        raise HTTPProblem(500, NO_OUTPUTS.format(count=count, why=str(e).splitlines()[0] if str(e) else type(e).__name__)) from None
    if len(outputs) != count:
        raise HTTPProblem(500, NO_OUTPUTS.format(count=count, why=f"{len(outputs)} found for {count} record(s)"))
    return outputs


def instrument(app: Any, *, system: str, routes: Sequence[str] = DEFAULT_ROUTES, ledger: Ledger | None = None,
               db: str | None = None, home: str | Path | None = None, inputs: Inputs | None = None,
               outputs: Outputs = default_outputs, caller: Caller = default_caller,
               configure_logs: bool = True) -> Any:
    """Record every prediction of ``app`` (a FastAPI/Starlette app) in the govflow ledger.

    ``system``: the ``system.name`` whose version in production answers. ``routes``: the POST paths
    that are predictions (default ``["/predict"]``; a path ending in ``*`` is a prefix). ``ledger``, or
    ``db`` / ``home`` (default: ``GOVFLOW_DB_URL`` / ``GOVFLOW_HOME``, else ``./.govflow``).
    ``inputs(body) -> records`` takes the records from the parsed JSON body (default: one record, a
    list, or ``{"records": [...]}``); ``outputs(answer, count) -> outputs`` takes one output per record
    from the app's parsed JSON answer (default: its ``"predictions"`` list, the answer itself when a
    list, or the whole answer for one record). ``caller(scope)`` names who asked (default
    ``anonymous@<client address>``). ``configure_logs``: structlog JSON lines on stderr, as
    `govflow serve` logs. Call it before the app starts; returns the app.
    """
    if not system:
        raise InputError("instrument(app, system=...): name the system (its system.name in govflow.yaml)")
    if not routes or any(not r.startswith("/") for r in routes):
        raise InputError(f"instrument(routes=...): give paths starting with '/', e.g. ['/predict']; got {list(routes)}")
    if configure_logs:
        configure_logging()
    recorder = Recorder(ledger or Ledger.open(db, home), system, inputs=inputs, outputs=outputs, caller=caller)
    app.add_middleware(GovflowMiddleware, recorder=recorder, routes=list(routes))
    app.state.govflow_recorder = recorder
    return app
