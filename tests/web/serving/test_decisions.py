"""Decisions that say what they mean (#16 item 6): the label, favourable or not, the score and what it
is a probability of, and ``randomised`` where the model draws its decisions; earlier records still read."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select

from govflow.governance.config import parse_config
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import Prediction
from govflow.web.app import create_app
from tests.web.serving.helpers import CONFIG, DATA, put_in_production, records, relaxed_config

PREDICT = "/predict/credit-scoring"


def served_outputs(ledger: Ledger, count: int) -> tuple[dict, list[dict], list[dict]]:
    """The answer's body, its predictions, and the outputs logged for them."""
    with TestClient(create_app(ledger), client=("127.0.0.1", 50000)) as client:
        response = client.post(PREDICT, json=records(count))
    assert response.status_code == 200, response.text
    body = response.json()
    with ledger.read() as conn:
        logged = {r.id: json.loads(r.output_json) for r in conn.execute(select(Prediction.id, Prediction.output_json))}
    return body, body["predictions"], [logged[p["prediction_id"]] for p in body["predictions"]]


def test_with_positive_label_0_the_label_and_favourable_agree(sqlite_ledger: Ledger, tmp_path: Path) -> None:
    frame = pd.read_csv(DATA)
    frame["creditability"] = (frame["creditability"] != "good").astype(int)  # 0: good (favourable), 1: bad
    frame.to_csv(tmp_path / "credit01.csv", index=False)
    raw = yaml.safe_load(CONFIG.read_text())
    raw["data"].update(train=str(tmp_path / "credit01.csv"), positive_label=0)
    put_in_production(sqlite_ledger, parse_config(raw, tmp_path, source="test"))
    body, answers, logged = served_outputs(sqlite_ledger, 40)
    assert body["positive_label"] == 0
    assert {a["decision"] for a in answers} == {0, 1}  # both outcomes occur in 40 applicants
    for answer, output in zip(answers, logged):
        assert answer["score_of"] == 0 and "randomised" not in answer
        assert answer["favourable"] is (answer["decision"] == 0) is (answer["score"] >= 0.5)
        assert output == {k: answer[k] for k in ("decision", "favourable", "score", "score_of")}


def test_a_mitigated_models_decisions_say_they_are_randomised(sqlite_ledger: Ledger) -> None:
    put_in_production(sqlite_ledger, relaxed_config(mitigation="exponentiated_gradient"))
    _, answers, logged = served_outputs(sqlite_ledger, 200)
    assert all(a["randomised"] is True and a["score_of"] == "good" for a in answers)
    assert all(a["favourable"] is (a["decision"] == "good") for a in answers)
    assert [o["randomised"] for o in logged] == [True] * 200
    # the reason for the flag: some decisions contradict "score >= 0.5"
    assert any(a["favourable"] is not (a["score"] >= 0.5) for a in answers)
