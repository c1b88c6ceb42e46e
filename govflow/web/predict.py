"""``POST /predict/{system}`` and ``GET /predict/{system}/schema``: the prediction routes of `govflow serve`.

A request is parsed (`parse_records`), checked against the input schema of the version in production,
scored by the `BatchScorer`, and answered only once the `GroupCommitter` has made every prediction
durable in the ledger (see `govflow.web.app` for the status codes). The OpenAPI models here only
document the responses.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from govflow import canonical as canon
from govflow.errors import ComplianceBlocked
from govflow.flows.serving import NotInProduction, UnknownSystem
from govflow.governance.ledger.ids import new_id
from govflow.governance.trail import predictions as preds
from govflow.web.audit import HTTPProblem
from govflow.web.explain_inline import add_explanations
from govflow.web.guard import bad_text, json_content_type
from govflow.web.state import ServeState
from govflow.web.workers import LedgerUnavailable

MAX_BATCH = preds.MAX_BATCH
MAX_BODY = 16 * 1024 * 1024  # bytes per request body
REQUEST_ID = re.compile(r"[A-Za-z0-9._:@-]{1,64}")

NOT_JSON = "the request body is not valid JSON: {error}"
BAD_SHAPE = "expected one record (a JSON object), a list of records, or {{\"records\": [...]}}; got {got}"
EMPTY = "the batch is empty: send at least one record"
TOO_MANY = "a batch of {count} records is over the limit of {limit} per request: split it"
TOO_LARGE = "the request body is over {limit} bytes: split the batch"
BAD_REQUEST_ID = "X-Request-ID: use 1 to 64 letters, digits or . _ : @ -"
TOO_DEEP = "the request body is JSON nested more than the parser allows: send records as flat objects of feature values"

log = structlog.get_logger("govflow.serve")


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
    decision: Any = Field(None, description="The class label decided, as in the training data (e.g. \"good\").")
    favourable: bool | None = Field(None, description="True when the decision is the favourable outcome (the config's "
                                                       "positive_label).")
    score: float | None = Field(None, description="The model's probability of the label in score_of.")
    score_of: Any = Field(None, description="What the score is a probability of: the favourable label.")
    randomised: bool | None = Field(None, description="True when the model draws its decisions from the score "
                                                      "(a fairness mitigation): a decision may then contradict "
                                                      "score >= 0.5. Absent otherwise.")
    out_of_domain: list[str] | None = Field(None, description="Fields outside the training range or set (scored, "
                                                              "flagged). Absent when none.")


class PredictResponse(BaseModel):
    request_id: str = Field(description="Also in the X-Request-ID header; traces a single-record request.")
    system: str
    model_version: str = Field(description="NAME:VERSION of the version in production that answered.")
    model_version_id: str
    positive_label: Any = Field(None, description="A classifier's favourable label (each decision says it too).")
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



def json_response(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(content, ensure_ascii=False), status_code=status, media_type="application/json",
                    headers=headers)


def install_predict_routes(app: FastAPI, state: ServeState) -> None:
    """Add the prediction routes to ``app``; they share ``state`` with the audit routes and the dashboard."""
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
            if state.record:
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
                "model_version_id": version_id, "recorded": state.record,
                "predictions": [{"prediction_id": r.id, **out} for r, out in zip(logged, outputs)]}
        data = getattr(served.config, "data", None)
        if hasattr(data, "positive_label"):  # a classifier: its favourable label
            body["positive_label"] = data.positive_label  # type: ignore[union-attr]
        await add_explanations(state, served, valid, logged, body["predictions"], caller)  # serving.explain: inline
        log.info("predict", status=200, ms=round((time.perf_counter() - started) * 1000, 2), caller=caller, **fields)
        return json_response(body, headers={"X-Request-ID": request_id})

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
