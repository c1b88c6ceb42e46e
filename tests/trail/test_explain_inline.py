"""``serving: {explain: inline}``: decisions explained with their answer and recorded as their explanation;
a later explanation request returns that record (nothing recomputed); off, nothing is computed."""

from __future__ import annotations

import math
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from govflow import canonical as canon
from govflow.errors import ConfigError
from govflow.flows.models.explaining import explain_prediction
from govflow.flows.models.explaining_inline import explain_served
from govflow.flows.serving import load_production
from govflow.governance.config import GovflowConfig, parse_config
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import AuditEntry
from govflow.governance.registry import versions as registry
from govflow.governance.trail import explain
from govflow.governance.trail import predictions as preds
from tests.trail.explain_helpers import CONFIG, DATA, in_production, requests


def inline_config(estimator: str = "logistic_regression", explain_mode: str = "inline") -> GovflowConfig:
    raw = yaml.safe_load(CONFIG.read_text())
    raw["data"]["train"] = str(DATA)
    raw["model"]["estimator"] = estimator
    raw["serving"] = {"explain": explain_mode}
    return parse_config(raw, CONFIG.parent, source=str(CONFIG))


def recorded_count(ledger: Ledger) -> int:
    with ledger.read() as conn:
        return int(conn.execute(select(func.count()).select_from(AuditEntry)
                                .where(AuditEntry.event_type == explain.EVENT_TYPE)).scalar_one())


def serve_inline(ledger: Ledger, n: int) -> tuple[list[Any], list[dict[str, Any]]]:
    """``n`` decisions logged as serving logs them, explained inline: (their records, the explanations)."""
    served = load_production(ledger, "credit-scoring")
    valid = served.schema.validate(requests(n))
    logged = [preds.make_record(request_id=f"req-{i}", system="credit-scoring", model_version_id=served.version.id,
                                output=out, valid=v, latency_ms=1.0, served_at=canon.utc_now(), caller="test",
                                redaction=served.redaction) for i, (v, out) in enumerate(zip(valid, served.predict(valid)))]
    preds.write_predictions(ledger, logged)
    return logged, explain_served(ledger, served, valid, logged, by="test, inline")


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_inline_explanations_are_the_records_a_later_explain_returns(ledger: Ledger) -> None:
    ref = in_production(ledger, inline_config())
    before = recorded_count(ledger)
    logged, answers = serve_inline(ledger, 3)
    assert recorded_count(ledger) == before + 1  # the request's explanations: one audited transaction
    for made, answer in zip(logged, answers):
        assert answer["method"] == "exact-linear" and answer["prediction_id"] == made.id
        total = answer["base"]["value"] + sum(t["contribution"] for t in answer["terms"])
        assert total == pytest.approx(logit(made.output["score"]), abs=1e-9)
        assert answer["recorded"]["body"]["text_sha256"] == explain.text_hash(answer["text"])
    # A later request finds the inline record and returns it: same terms and text, nothing new recorded,
    # and no model is loaded to answer it (the model file is gone; a recomputation would be refused).
    with ledger.read() as conn:
        model_file = ledger.artifacts.path(registry.version_row(conn, ref.id)["artifact_hash"])
    model_file.unlink()
    for made, answer in zip(logged, answers):
        later = explain_prediction(ledger, made.id, by="auditor")
        assert later["recorded"] == answer["recorded"] and later["text_as_recorded"] is True
        assert later["terms"] == answer["terms"] and later["text"] == answer["text"]
    assert recorded_count(ledger) == before + 1


def test_inline_pipeline_terms_are_sampled_and_add_up(sqlite_ledger: Ledger) -> None:
    in_production(sqlite_ledger, inline_config("hist_gradient_boosting"))
    logged, answers = serve_inline(sqlite_ledger, 2)
    for made, answer in zip(logged, answers):
        assert answer["method"] == "baseline-shapley-sampled"
        total = answer["base"]["value"] + sum(t["contribution"] for t in answer["terms"])
        assert total == pytest.approx(logit(made.output["score"]), abs=1e-6)
        assert explain_prediction(sqlite_ledger, made.id, by="auditor")["terms"] == answer["terms"]


def test_the_setting_is_checked_and_left_out_of_the_config_at_its_default() -> None:
    assert inline_config(explain_mode="off").snapshot().get("serving") is None  # config hashes unchanged
    assert inline_config().snapshot()["serving"] == {"out_of_domain": "flag", "explain": "inline"}
    with pytest.raises(ConfigError) as caught:
        inline_config(explain_mode="yes")
    assert str(caught.value).endswith("serving.explain: Input should be 'off' or 'inline'")


@pytest.mark.parametrize("mode", ["inline", "off"])
def test_serve_answers_with_the_explanation_only_inline(sqlite_ledger: Ledger, mode: str) -> None:
    from govflow.web.app import create_app

    in_production(sqlite_ledger, inline_config(explain_mode=mode))
    before = recorded_count(sqlite_ledger)
    with TestClient(create_app(sqlite_ledger), client=("127.0.0.1", 50000)) as client:
        response = client.post("/predict/credit-scoring", json=requests(2))
    assert response.status_code == 200, response.text
    answered = response.json()["predictions"]
    if mode == "off":  # the default: nothing computed, nothing recorded
        assert all("explanation" not in p for p in answered) and recorded_count(sqlite_ledger) == before
        return
    assert recorded_count(sqlite_ledger) == before + 1
    for prediction in answered:
        shown = prediction["explanation"]
        assert shown["method"] == "exact-linear" and shown["score"] == pytest.approx(prediction["score"], abs=1e-9)
        assert shown["base"]["value"] + sum(t["contribution"] for t in shown["terms"]) == pytest.approx(
            logit(prediction["score"]), abs=1e-9)
        later = explain_prediction(sqlite_ledger, prediction["prediction_id"], by="auditor")
        assert later["recorded"]["audit_seq"] == shown["recorded"]["audit_seq"]
        assert later["text"] == shown["text"] and later["text_as_recorded"] is True
