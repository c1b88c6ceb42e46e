"""A recommender served by the prediction service (`POST /predict/{system}`), the same trail as a
classifier: each prediction row holds the recommended list, the payload the user's attributes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from govflow.flows import serving
from govflow.flows.recommender_flow import ServedRecommender
from govflow.governance.access import tokens
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import Prediction, PredictionPayload
from govflow.web import app as serve
from tests.recommender.test_scenario import trained

pytestmark = pytest.mark.slow


def test_predict_serves_recommendations_through_the_trail(recorder: Ledger, config_file: Path) -> None:
    trained(recorder, config_file)
    loaded = serving.load_production(recorder, "movie-recs")
    assert isinstance(loaded, ServedRecommender)
    operator, _ = tokens.create_token(recorder, role="operator", label="shop-frontend", created_by="test")
    with TestClient(serve.create_app(recorder)) as client:
        response = client.post("/predict/movie-recs", headers={"Authorization": f"Bearer {operator}"},
                               json=[{"user_id": 3, "sensitive": {"gender": "F", "age": 31}}, {"user_id": 5000}])
        assert response.status_code == 200, response.text
        body = response.json()
        bad = client.post("/predict/movie-recs", headers={"Authorization": f"Bearer {operator}"}, json={"user_id": "3"})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "user_id"]
    first, cold = body["predictions"]
    assert body["model_version"] == "movie-recs:1" and len(first["items"]) == 5 and cold["cold_start"] is True
    with recorder.read() as conn:
        rows = conn.execute(select(Prediction.output_json, Prediction.caller, PredictionPayload.sensitive_json)
                            .join(PredictionPayload, PredictionPayload.payload_hash == Prediction.payload_hash)
                            .where(Prediction.id == first["prediction_id"])).one()
    assert json.loads(rows[0])["items"] == first["items"] and rows[1] == "shop-frontend"
    assert json.loads(rows[2]) == {"gender": "F", "age": 31}
