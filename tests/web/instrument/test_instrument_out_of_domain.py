"""An instrumented own service follows ``serving.out_of_domain`` as `govflow serve` does (#17 item 4):
``flag`` (the default) calls the app and records the fields out of domain; ``reject`` refuses with 422
and does not call the app."""

from __future__ import annotations

import json
from typing import Any

import yaml
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy import select

from govflow.governance.config import parse_config
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import Prediction
from govflow.web import instrument
from tests.web.serving.helpers import CONFIG, HERE, put_in_production, records


def own_app(calls: list[int], answer: Any) -> FastAPI:
    app = FastAPI()

    @app.post("/predict")
    async def predict(request: Request) -> Any:
        await request.json()
        calls.append(1)
        return answer

    return app


def in_production(ledger: Ledger, out_of_domain: str | None) -> None:
    raw = yaml.safe_load(CONFIG.read_text())
    if out_of_domain is not None:
        raw["serving"] = {"out_of_domain": out_of_domain}
    put_in_production(ledger, parse_config(raw, HERE, source=str(CONFIG)))


def logged(ledger: Ledger) -> list[Any]:
    with ledger.read() as conn:
        return [json.loads(r) for r in conn.execute(select(Prediction.output_json).order_by(Prediction.audit_seq)).scalars()]


def older_and_longer() -> dict[str, Any]:
    record = records(1)[0] | {"duration_in_month": 500}
    record["sensitive"] = {**record["sensitive"], "age_in_years": 99}  # older than anyone in training
    return record


def test_flag_calls_the_app_and_records_the_fields(sqlite_ledger: Ledger) -> None:
    in_production(sqlite_ledger, None)  # the default: flag
    calls: list[int] = []
    app = instrument(own_app(calls, {"label": "good", "p": 0.7}), system="credit-scoring", ledger=sqlite_ledger,
                     configure_logs=False)
    with TestClient(app, client=("127.0.0.1", 50000)) as client:
        shifted = client.post("/predict", json=older_and_longer())
        usual = client.post("/predict", json=records(1)[0])
    assert shifted.status_code == 200 and shifted.json() == {"label": "good", "p": 0.7} and calls == [1, 1]
    assert logged(sqlite_ledger) == [{"label": "good", "p": 0.7, "out_of_domain": ["duration_in_month", "age_in_years"]},
                                     {"label": "good", "p": 0.7}]
    assert usual.status_code == 200


def test_flag_keeps_an_answer_that_is_not_an_object_beside_the_fields(sqlite_ledger: Ledger) -> None:
    in_production(sqlite_ledger, "flag")
    app = instrument(own_app([], "good"), system="credit-scoring", ledger=sqlite_ledger, configure_logs=False)
    with TestClient(app, client=("127.0.0.1", 50000)) as client:
        assert client.post("/predict", json=older_and_longer()).json() == "good"
    assert logged(sqlite_ledger) == [{"output": "good", "out_of_domain": ["duration_in_month", "age_in_years"]}]


def test_reject_refuses_with_422_and_the_app_is_not_called(sqlite_ledger: Ledger) -> None:
    in_production(sqlite_ledger, "reject")
    calls: list[int] = []
    app = instrument(own_app(calls, {"label": "good"}), system="credit-scoring", ledger=sqlite_ledger,
                     configure_logs=False)
    with TestClient(app, client=("127.0.0.1", 50000)) as client:
        refused = client.post("/predict", json=older_and_longer())
    assert refused.status_code == 422 and calls == [] and logged(sqlite_ledger) == []
    assert [e["msg"] for e in refused.json()["detail"]] == [
        "duration_in_month: 500 is outside the range the model was trained on [0, 79]",
        "sensitive.age_in_years: 99 is outside the range the model was trained on [13, 81]"]
