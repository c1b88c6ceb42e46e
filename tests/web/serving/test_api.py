"""The HTTP API in process: predictions, refusals that write nothing, tokens and roles, audit reads."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from govflow.governance.access import tokens
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import Prediction, PredictionPayload
from govflow.governance.ledger.verify import verify
from govflow.governance.registry.versions import VersionRef
from govflow.web.app import MAX_BATCH, create_app
from tests.web.serving.helpers import counts, put_in_production, records, suspend

PREDICT = "/predict/credit-scoring"


def test_one_record_is_answered_after_it_is_recorded(client: TestClient, sqlite_served: tuple[Ledger, VersionRef]) -> None:
    ledger, ref = sqlite_served
    before = counts(ledger)
    response = client.post(PREDICT, json=records(1)[0])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_version"] == "credit-scoring:1" and body["model_version_id"] == ref.id
    assert body["recorded"] is True and body["positive_label"] == "good"
    assert response.headers["x-request-id"] == body["request_id"]
    [out] = body["predictions"]
    assert out["decision"] in ("good", "bad") and 0 <= out["score"] <= 1
    assert out["favourable"] is (out["decision"] == "good") is (out["score"] >= 0.5) and out["score_of"] == "good"
    assert "randomised" not in out  # a logistic regression reads its decision off the score
    assert counts(ledger) == (before[0] + 1, before[1] + 1, before[2] + 1)
    with ledger.read() as conn:
        row = conn.execute(select(Prediction).where(Prediction.id == out["prediction_id"])).mappings().one()
        payload = conn.execute(select(PredictionPayload).where(PredictionPayload.payload_hash == row["payload_hash"])).mappings().one()
    assert row["request_id"] == body["request_id"] and row["caller"] == "anonymous@127.0.0.1"
    assert row["model_version_id"] == ref.id and row["latency_ms"] > 0
    assert json.loads(row["output_json"]) == {k: out[k] for k in ("decision", "favourable", "score", "score_of")}
    assert json.loads(payload["sensitive_json"]) == {"age_in_years": 67, "personal_status_and_sex": "male : divorced/separated"}
    assert "age_in_years" not in json.loads(payload["features_json"])


@pytest.mark.parametrize("shape", ["list", "records"])
def test_a_batch_gets_one_prediction_per_record(client: TestClient, sqlite_served: tuple[Ledger, VersionRef], shape: str) -> None:
    batch = records(25)
    response = client.post(PREDICT, json=batch if shape == "list" else {"records": batch},
                           headers={"X-Request-ID": "client-req-42"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["request_id"] == "client-req-42" and len(body["predictions"]) == 25
    assert len({p["prediction_id"] for p in body["predictions"]}) == 25
    assert counts(sqlite_served[0])[0] == 25


def test_the_same_applicant_gets_the_same_answer_alone_or_in_a_batch(client: TestClient) -> None:
    alone = client.post(PREDICT, json=records(1, start=7)[0]).json()["predictions"][0]
    within = client.post(PREDICT, json=records(10)).json()["predictions"][7]
    assert (alone["decision"], alone["score"]) == (within["decision"], within["score"])


@pytest.mark.parametrize(("body", "status", "detail"), [
    (b"{not json", 400, "the request body is not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
    (b'"hello"', 422, [{"loc": ["body"], "msg": 'expected one record (a JSON object), a list of records, or {"records": [...]}; got string', "type": "shape"}]),
    (b"[]", 422, [{"loc": ["body", "records"], "msg": "the batch is empty: send at least one record", "type": "empty"}]),
    (json.dumps([records(1)[0]] * (MAX_BATCH + 1)).encode(), 413, "a batch of 1001 records is over the limit of 1000 per request: split it"),
    (json.dumps({**records(1)[0], "duration_in_month": "long"}).encode(), 422,
     [{"loc": ["body", "duration_in_month"], "msg": 'duration_in_month: expected an integer, got string "long"', "type": "type"}]),
    (json.dumps([records(1)[0], {**records(1)[0], "housing": None}]).encode(), 422,
     [{"loc": ["body", "records", 1, "housing"], "msg": "records[1].housing: must not be null (the model was trained without missing values here)", "type": "null"}]),
])
def test_a_bad_request_is_refused_and_nothing_is_written(client: TestClient, sqlite_served: tuple[Ledger, VersionRef],
                                                         body: bytes, status: int, detail: object) -> None:
    before = counts(sqlite_served[0])
    response = client.post(PREDICT, content=body, headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()) == (status, {"detail": detail})
    assert counts(sqlite_served[0]) == before


def test_a_batch_with_one_bad_record_writes_none_of_it(client: TestClient, sqlite_served: tuple[Ledger, VersionRef]) -> None:
    before = counts(sqlite_served[0])
    batch = records(30)
    batch[29]["credit_amount"] = "a lot"
    response = client.post(PREDICT, json=batch)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "records", 29, "credit_amount"]
    assert counts(sqlite_served[0]) == before


def test_an_unknown_system_is_404(client: TestClient, sqlite_served: tuple[Ledger, VersionRef]) -> None:
    before = counts(sqlite_served[0])
    response = client.post("/predict/fraud", json=records(1)[0])
    assert (response.status_code, response.json()) == (
        404, {"detail": "unknown system 'fraud': no model versions are recorded for it (systems: credit-scoring)"})
    assert counts(sqlite_served[0]) == before


def test_no_version_in_production_is_503_with_the_reason(sqlite_served: tuple[Ledger, VersionRef]) -> None:
    ledger, ref = sqlite_served
    with TestClient(create_app(ledger), client=("127.0.0.1", 50000)) as client:
        assert client.post(PREDICT, json=records(1)[0]).status_code == 200
        suspend(ledger, ref, "incident 7: approval rates skewed against one group")
        before = counts(ledger)
        response = client.post(PREDICT, json=records(1)[0])  # the cached model is re-checked at commit
        assert response.status_code == 503
        assert response.json() == {"detail": "credit-scoring:1 is no longer in production (now suspended); nothing was served: retry"}
        response = client.post(PREDICT, json=records(1)[0])
        assert response.status_code == 503
        detail = response.json()["detail"]
        assert detail.startswith("credit-scoring has no version in production: credit-scoring:1 was suspended at ")
        assert detail.endswith(" by risk officer: incident 7: approval rates skewed against one group")
        assert counts(ledger) == before


def test_a_version_never_promoted_is_503(sqlite_ledger: Ledger) -> None:
    put_in_production(sqlite_ledger)
    with sqlite_ledger.write("model.retired", "x") as w:
        from govflow.governance.registry.versions import add_stage, resolve

        add_stage(w, resolve(w.conn, "credit-scoring:1").id, "retired", "ops", "end of life")
    with TestClient(create_app(sqlite_ledger), client=("127.0.0.1", 50000)) as client:
        response = client.post(PREDICT, json=records(1)[0])
    assert response.status_code == 503
    assert "credit-scoring:1 was retired at " in response.json()["detail"]


def test_an_outside_caller_needs_a_token_even_before_any_exists(sqlite_served: tuple[Ledger, VersionRef]) -> None:
    with TestClient(create_app(sqlite_served[0]), client=("10.0.0.9", 40000)) as client:
        response = client.post(PREDICT, json=records(1)[0])
    assert response.status_code == 401
    assert counts(sqlite_served[0])[0] == 0


def test_token_roles_are_enforced(sqlite_served: tuple[Ledger, VersionRef]) -> None:
    ledger, _ = sqlite_served
    with TestClient(create_app(ledger), client=("127.0.0.1", 50000)) as client:
        first = client.post(PREDICT, json=records(1)[0]).json()["predictions"][0]["prediction_id"]
        assert client.get(f"/audit/predictions/{first}").status_code == 401  # auditor endpoints: always a token
    auditor, _ = tokens.create_token(ledger, role="auditor", label="external-auditor", created_by="t")
    operator, _ = tokens.create_token(ledger, role="operator", label="loan-frontend", created_by="t")
    as_auditor, as_operator = {"Authorization": f"Bearer {auditor}"}, {"Authorization": f"Bearer {operator}"}
    with TestClient(create_app(ledger), client=("127.0.0.1", 50000)) as client:
        before = counts(ledger)
        anonymous = client.post(PREDICT, json=records(1)[0])
        assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"
        assert anonymous.json()["detail"].startswith("this endpoint needs an operator token")
        refused = client.post(PREDICT, json=records(1)[0], headers=as_auditor)
        assert (refused.status_code, refused.json()) == (
            403, {"detail": "an auditor token cannot request predictions; this needs an operator token"})
        forged = client.post(PREDICT, json=records(1)[0], headers={"Authorization": "Bearer gft_forged"})
        assert forged.status_code == 401
        assert counts(ledger) == before
        served = client.post(PREDICT, json=records(1)[0], headers=as_operator)
        assert served.status_code == 200
        assert client.get(f"/audit/predictions/{first}", headers=as_operator).status_code == 403
        assert client.get(f"/audit/predictions/{first}").status_code == 401
        trace = client.get(f"/audit/predictions/{first}", headers=as_auditor)
        assert trace.status_code == 200 and trace.json()["prediction"]["id"] == first
        pid = served.json()["predictions"][0]["prediction_id"]
        assert client.get(f"/audit/predictions/{pid}", headers=as_auditor).json()["prediction"]["caller"] == "loan-frontend"
        listed = client.get("/audit/predictions?system=credit-scoring&limit=5", headers=as_auditor).json()["predictions"]
        assert [p["id"] for p in listed] == [pid, first]
        model = client.get("/audit/models/credit-scoring/production", headers=as_auditor).json()
        assert model["type"] == "model" and model["version"] == 1
        assert client.get("/audit/models/credit-scoring/9", headers=as_auditor).status_code == 404
        assert client.get("/audit/predictions/nope", headers=as_auditor).status_code == 404
        head = client.get("/audit/head", headers=as_auditor).json()
        assert head["seq"] == ledger.head()[0]


def test_the_schema_and_the_docs_are_served(client: TestClient) -> None:
    schema = client.get("/predict/credit-scoring/schema").json()
    assert schema["version"] == "credit-scoring:1" and schema["max_batch"] == MAX_BATCH
    assert [f["name"] for f in schema["sensitive"]] == ["personal_status_and_sex", "age_in_years"]
    spec = client.get("/openapi.json").json()
    assert {"/predict/{system}", "/audit/predictions/{prediction_id}", "/audit/models/{name}/{version}"} <= set(spec["paths"])
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/predict/{system}" in docs.text and "cdn" not in docs.text.lower()


def test_the_benchmark_baseline_records_nothing(sqlite_served: tuple[Ledger, VersionRef]) -> None:
    ledger, _ = sqlite_served
    before = counts(ledger)
    with TestClient(create_app(ledger, benchmark_baseline_unrecorded=True), client=("127.0.0.1", 50000)) as client:
        body = client.post(PREDICT, json=records(3)).json()
    assert body["recorded"] is False and len(body["predictions"]) == 3
    assert counts(ledger) == before


def test_many_requests_in_process_are_group_committed(client: TestClient, sqlite_served: tuple[Ledger, VersionRef]) -> None:
    import concurrent.futures

    ledger, _ = sqlite_served
    before = counts(ledger)
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda r: client.post(PREDICT, json=r).status_code, records(200)))
    assert statuses == [200] * 200
    after = counts(ledger)
    assert after[:2] == (before[0] + 200, before[1] + 200)
    assert after[2] - before[2] <= 200  # at most one audit entry per request; fewer when committed together
    assert verify(ledger).intact


def test_a_needs_sensitive_model_over_http(sqlite_ledger: Ledger) -> None:
    from tests.web.serving.helpers import relaxed_config

    put_in_production(sqlite_ledger, relaxed_config(mitigation="threshold_optimizer"))
    record = records(1)[0]
    del record["sensitive"]
    with TestClient(create_app(sqlite_ledger), client=("127.0.0.1", 50000)) as client:
        missing = client.post(PREDICT, json=record)
        ok = client.post(PREDICT, json=records(1)[0])
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["msg"] == ("sensitive: required: credit-scoring:1 needs the sensitive attributes "
                                                  "personal_status_and_sex, age_in_years at prediction time")
    assert ok.status_code == 200


def test_a_ledger_that_cannot_be_written_answers_503_never_200(sqlite_served: tuple[Ledger, VersionRef],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from govflow.governance.trail import predictions

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(predictions, "write_predictions", broken)
    with TestClient(create_app(sqlite_served[0]), client=("127.0.0.1", 50000)) as client:
        response = client.post(PREDICT, json=records(3))
    assert (response.status_code, response.json()) == (503, {"detail": "the prediction could not be recorded in the "
                                                                       "ledger (disk full); nothing was served: retry later"})
    assert counts(sqlite_served[0])[0] == 0


def test_token_cli_prints_the_secret_once_and_serve_refuses_a_public_address_without_tokens(
        sqlite_ledger: Ledger) -> None:
    import os
    from unittest import mock

    from typer.testing import CliRunner

    from govflow.cli.main import app
    from govflow.errors import InputError
    from govflow.web.app import check_host

    with pytest.raises(InputError) as caught:
        check_host(sqlite_ledger, "0.0.0.0")
    assert str(caught.value).startswith("no API token exists, so serve listens on 127.0.0.1 only")
    with mock.patch.dict(os.environ):
        created = CliRunner().invoke(app, ["--home", str(sqlite_ledger.home), "token", "create", "--role", "operator",
                                           "--label", "frontend"])
        listed = CliRunner().invoke(app, ["--home", str(sqlite_ledger.home), "token", "list"])
    assert created.exit_code == 0, created.output
    secret = created.stdout.splitlines()[0]
    assert secret.startswith("gft_")
    assert "operator token 'frontend' created; the secret above is shown only now" in created.output
    _, row = listed.output.splitlines()  # a header, then the token: id, role, label, ..., status
    assert row.split()[1:3] == ["operator", "frontend"] and row.endswith("  active") and secret not in listed.output
    with sqlite_ledger.read() as conn:
        assert tokens.verify_token(conn, secret).label == "frontend"  # type: ignore[union-attr]
    check_host(sqlite_ledger, "0.0.0.0")  # a token exists now: allowed
