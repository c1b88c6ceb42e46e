"""`govflow.web.instrument` on the example own service (examples/own-service), in real uvicorn processes.

Every 200 of the instrumented ``POST /score`` is exactly one durable prediction record, against the
version in production, also under 500 concurrent requests and after ``kill -9``; no version in
production is 503 and the app is not called; `govflow trace prediction` and `govflow verify` work.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy import select

from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import Prediction, PredictionPayload
from govflow.governance.ledger.verify import verify
from govflow.web import instrument
from tests.web.instrument.helpers import own_service, service_log
from tests.web.serving.helpers import (
    GOVFLOW,
    counts,
    db_url,
    put_in_production,
    records,
    relaxed_config,
    suspend,
)

CONCURRENT = 500


def _ids_in_ledger(ledger: Ledger, ids: list[str]) -> set[str]:
    found: set[str] = set()
    with ledger.read() as conn:
        for start in range(0, len(ids), 500):
            found |= set(conn.execute(select(Prediction.id).where(Prediction.id.in_(ids[start:start + 500]))).scalars())
    return found


async def _concurrent(base: str, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(bodies), max_keepalive_connections=len(bodies))
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as client:
        return list(await asyncio.gather(*(client.post("/score", json=b, headers={"X-Request-ID": f"load-{i}"})
                                           for i, b in enumerate(bodies))))


def _govflow(ledger: Ledger, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GOVFLOW, "--home", str(ledger.home), "--db", db_url(ledger), *args],
                          capture_output=True, text=True, timeout=300)


def test_500_concurrent_requests_each_200_is_one_record(ledger: Ledger, own_model: Path) -> None:
    ref = put_in_production(ledger, relaxed_config(redact=["credit_amount"]))
    with own_service(ledger, own_model) as (base, _):
        before = counts(ledger)
        answers = asyncio.run(_concurrent(base, records(CONCURRENT)))
        after = counts(ledger)
    ok = [a for a in answers if a.status_code == 200]
    assert len(ok) == CONCURRENT, {a.status_code for a in answers}
    assert after[0] - before[0] == len(ok) and after[1] - before[1] == len(ok)
    assert after[2] - before[2] < len(ok)  # group commit: fewer audit entries than requests
    ids = [a.headers["x-prediction-id"] for a in ok]
    assert len(set(ids)) == len(ok) and _ids_in_ledger(ledger, ids) == set(ids)
    assert {a.headers["x-model-version"] for a in ok} == {str(ref)}
    assert sorted(a.headers["x-request-id"] for a in ok) == sorted(f"load-{i}" for i in range(CONCURRENT))
    first = ok[0]
    with ledger.read() as conn:
        row = conn.execute(select(Prediction).where(Prediction.id == first.headers["x-prediction-id"])).mappings().one()
        payload = conn.execute(select(PredictionPayload).where(
            PredictionPayload.payload_hash == row["payload_hash"])).mappings().one()
    assert row["model_version_id"] == ref.id and row["request_id"] == first.headers["x-request-id"]
    assert json.loads(row["output_json"]) == first.json()["predictions"][0]  # the app's own answer
    assert json.loads(payload["features_json"])["credit_amount"].startswith("hmac-sha256:")  # logging.redact
    assert "personal_status_and_sex" in json.loads(payload["sensitive_json"])
    logged = service_log(ledger)
    assert '"action": "predict"' in logged and '"model_version": "credit-scoring:1"' in logged  # ECS JSON lines
    assert "critical account" not in logged and "radio/television" not in logged  # never a feature value

    traced = _govflow(ledger, "trace", "prediction", first.headers["x-prediction-id"])
    assert traced.returncode == 0, traced.stderr
    assert first.headers["x-prediction-id"] in traced.stdout and str(ref) in traced.stdout
    by_request = _govflow(ledger, "trace", "prediction", first.headers["x-request-id"], "--json")
    assert by_request.returncode == 0, by_request.stderr
    assert first.headers["x-prediction-id"] in by_request.stdout
    verified = _govflow(ledger, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


async def _until_killed(base: str, process: subprocess.Popen[bytes], kill_after: int) -> list[str]:
    """32 clients in a loop; SIGKILL the service the moment the ``kill_after``-th 200 arrives."""
    answered: list[str] = []
    stop = asyncio.Event()
    bodies = records(500)

    async def worker(client: httpx.AsyncClient, n: int) -> None:
        i = n
        try:
            while not stop.is_set():
                answer = await client.post("/score", json=bodies[i % len(bodies)])
                i += 32
                if answer.status_code == 200:
                    answered.append(answer.headers["x-prediction-id"])
                    if len(answered) == kill_after:
                        os.kill(process.pid, signal.SIGKILL)
                        stop.set()
        except httpx.HTTPError:
            return  # the service is gone

    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        await asyncio.gather(*(worker(client, n) for n in range(32)))
    return answered


def test_kill_9_loses_no_answered_prediction(sqlite_ledger: Ledger, own_model: Path) -> None:
    put_in_production(sqlite_ledger)
    with own_service(sqlite_ledger, own_model) as (base, process):
        answered = asyncio.run(_until_killed(base, process, kill_after=300))
        process.wait(30)
        assert process.returncode == -signal.SIGKILL
    assert len(answered) >= 300
    reopened = Ledger.open(db_url(sqlite_ledger), sqlite_ledger.home)
    try:
        missing = set(answered) - _ids_in_ledger(reopened, answered)
        assert not missing, f"{len(missing)} answered predictions are not in the ledger"
        assert counts(reopened)[0] >= len(answered)  # committed just before the kill but never answered: fine
        report = verify(reopened)
        assert report.intact, report.findings[:3]
    finally:
        reopened.close()


def test_no_version_in_production_is_503(sqlite_ledger: Ledger, own_model: Path) -> None:
    with own_service(sqlite_ledger, own_model) as (base, _):
        unknown = httpx.post(f"{base}/score", json=records(1)[0], timeout=30)
        assert unknown.status_code == 503
        assert unknown.json()["detail"].startswith("unknown system 'credit-scoring': no model versions are recorded")
        ref = put_in_production(sqlite_ledger)
        assert httpx.post(f"{base}/score", json=records(1)[0], timeout=30).status_code == 200
        suspend(sqlite_ledger, ref)
        before = counts(sqlite_ledger)
        answers = [httpx.post(f"{base}/score", json=records(1)[0], timeout=30) for _ in range(2)]
        # The first may still find the cached version: its commit refuses it, and the cache is dropped.
        assert [a.status_code for a in answers] == [503, 503]
        left = "credit-scoring has no version in production: credit-scoring:1 was suspended at "
        assert answers[0].json()["detail"].startswith((left, "credit-scoring:1 is no longer in production (now suspended)"))
        assert answers[1].json()["detail"].startswith(left) and answers[1].headers["retry-after"] == "30"
        assert answers[1].json()["detail"].endswith("by risk officer: incident 7: skewed approvals")
        assert counts(sqlite_ledger)[0] == before[0]
        bad_id = httpx.post(f"{base}/score", json=records(1)[0], headers={"X-Request-ID": "no spaces"}, timeout=30)
        assert bad_id.status_code == 400 and bad_id.json()["detail"].startswith("X-Request-ID: use 1 to 64")


def _counting_app() -> tuple[FastAPI, list[int]]:
    calls: list[int] = []
    app = FastAPI()

    @app.post("/predict")
    async def predict(request: Request) -> Any:
        body = await request.json()
        calls.append(1)
        if isinstance(body, dict) and body.get("duration_in_month") == 4:
            return _refusal()
        return {"label": "good"}

    @app.post("/other")
    async def other() -> dict[str, str]:
        calls.append(1)
        return {"ok": "yes"}

    return app, calls


def _refusal() -> Any:
    from fastapi.responses import JSONResponse

    return JSONResponse({"detail": "our own refusal"}, status_code=409)


def test_the_app_is_not_called_unless_the_request_can_be_recorded(sqlite_ledger: Ledger) -> None:
    app, calls = _counting_app()
    instrument(app, system="credit-scoring", ledger=sqlite_ledger, configure_logs=False)
    with TestClient(app, client=("127.0.0.1", 50000)) as client:
        missing = client.post("/predict", json=records(1)[0])
        assert missing.status_code == 503 and calls == []
        assert missing.json()["detail"].startswith("unknown system 'credit-scoring'")
        assert client.post("/other", json={}).status_code == 200 and calls == [1]  # other routes untouched
        put_in_production(sqlite_ledger)
        bad = client.post("/predict", json={**records(1)[0], "duration_in_month": "twelve"})
        assert bad.status_code == 422 and calls == [1]
        assert bad.json()["detail"][0]["msg"] == 'duration_in_month: expected an integer, got string "twelve"'
        form = client.post("/predict", content=b"duration_in_month=12", headers={"Content-Type": "text/plain"})
        assert form.status_code == 415 and calls == [1]
        before = counts(sqlite_ledger)[0]
        refused = client.post("/predict", json={**records(1)[0], "duration_in_month": 4})
        assert refused.status_code == 409 and refused.json() == {"detail": "our own refusal"}
        assert "x-prediction-id" not in refused.headers and counts(sqlite_ledger)[0] == before  # not a prediction
        batch = client.post("/predict", json=records(2))
        assert batch.status_code == 500 and batch.json()["detail"].startswith(
            "govflow could not take 2 output(s) from the app's answer")  # {"label": ...} is one output, not two
        assert counts(sqlite_ledger)[0] == before
        one = client.post("/predict", json=records(1)[0])
        assert one.status_code == 200 and one.json() == {"label": "good"}
        assert counts(sqlite_ledger)[0] == before + 1


@pytest.mark.parametrize("routes", [[], ["score"]])
def test_bad_routes_are_refused(sqlite_ledger: Ledger, routes: list[str]) -> None:
    from govflow.errors import InputError

    with pytest.raises(InputError, match="instrument\\(routes=...\\): give paths starting with '/'"):
        instrument(FastAPI(), system="credit-scoring", routes=routes, ledger=sqlite_ledger, configure_logs=False)


def test_other_shapes_through_inputs_and_outputs(sqlite_ledger: Ledger) -> None:
    put_in_production(sqlite_ledger)
    app = FastAPI()

    @app.post("/v2/score/{channel}")
    async def score(request: Request) -> dict[str, Any]:
        body = await request.json()
        return {"results": {"labels": ["good"] * len(body["applicants"])}, "channel": "web"}

    instrument(app, system="credit-scoring", routes=["/v2/score/*"], ledger=sqlite_ledger, configure_logs=False,
               inputs=lambda body: body["applicants"], outputs=lambda answer, n: answer["results"]["labels"],
               caller=lambda scope: "branch-office-12")
    with TestClient(app, client=("127.0.0.1", 50000)) as client:
        before = counts(sqlite_ledger)[0]
        answer = client.post("/v2/score/web", json={"applicants": records(3)})
        assert answer.status_code == 200 and answer.json()["channel"] == "web"
        ids = answer.headers["x-prediction-id"].split(",")
        assert len(ids) == 3 and counts(sqlite_ledger)[0] == before + 3
        with sqlite_ledger.read() as conn:
            rows = conn.execute(select(Prediction.output_json, Prediction.caller).where(Prediction.id.in_(ids))).all()
        assert sorted(rows) == [('"good"', "branch-office-12")] * 3
        wrong = client.post("/v2/score/web", json={"people": records(1)})
        assert wrong.status_code == 422 and "the request's records could not be taken from its body ('applicants')" \
            in wrong.json()["detail"][0]["msg"]
        misfit = client.post("/v2/score/web", json={"applicants": [{**records(1)[0], "age": 3}]})
        assert misfit.status_code == 422
        assert misfit.json()["detail"][0]["msg"].startswith("records[0].age: unknown field; the features of credit-scoring:1 are:")
        assert counts(sqlite_ledger)[0] == before + 3
