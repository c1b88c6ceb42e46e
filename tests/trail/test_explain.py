"""Explanations of single decisions: exact for a linear model, sampled baseline Shapley for a pipeline,
recorded the first time, and refused (never guessed) once the input is erased."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from sqlalchemy import func, select

from govflow.errors import InputError
from govflow.flows.models.explaining import explain_prediction
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import Artifact, AuditEntry
from govflow.governance.trail import explain, retention
from tests.trail.explain_helpers import config_with, in_production, serve


def terms_total(answer: dict[str, Any]) -> float:
    return float(answer["base"]["value"]) + sum(t["contribution"] for t in answer["terms"])


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def entries(ledger: Ledger, event_type: str) -> int:
    with ledger.read() as conn:
        return int(conn.execute(select(func.count()).select_from(AuditEntry)
                                .where(AuditEntry.event_type == event_type)).scalar_one())


def test_linear_model_terms_are_exact_and_sum_to_the_recorded_log_odds(ledger: Ledger) -> None:
    in_production(ledger, config_with())
    for pid, output in serve(ledger):
        answer = explain_prediction(ledger, pid, by="auditor")
        assert answer["method"] == "exact-linear"
        assert terms_total(answer) == pytest.approx(logit(output["score"]), abs=1e-9)
        assert answer["log_odds"] == pytest.approx(logit(output["score"]), abs=1e-9)
        assert "warning" not in answer
        assert len(answer["terms"]) == 18  # every feature the model sees (not the two sensitive ones), strongest first
        sizes = [abs(t["contribution"]) for t in answer["terms"]]
        assert sizes == sorted(sizes, reverse=True)
        top = answer["terms"][0]
        way = "towards" if top["contribution"] >= 0 else "away from"
        assert answer["text"][0] == (f"{top['feature']} = {top['value']} pushed the decision {way} 'good' by "
                                     f"{abs(top['contribution']):.3f} in log-odds")


def test_pipeline_terms_are_sampled_baseline_shapley_and_add_up(sqlite_ledger: Ledger) -> None:
    in_production(sqlite_ledger, config_with(estimator="hist_gradient_boosting"))
    (pid, output), *_ = serve(sqlite_ledger, 2)
    answer = explain_prediction(sqlite_ledger, pid, by="auditor", record=False)
    assert answer["method"] == "baseline-shapley-sampled"
    assert terms_total(answer) == pytest.approx(logit(output["score"]), abs=1e-6)
    assert answer["base"]["is"].startswith("the log-odds of a baseline record")
    assert any(abs(t["contribution"]) > 0.01 for t in answer["terms"])
    again = explain_prediction(sqlite_ledger, pid, by="auditor", record=False)
    assert again["terms"] == answer["terms"]  # seeded by the prediction id: the same every time


def test_the_first_explanation_is_recorded_once_without_the_persons_values(ledger: Ledger) -> None:
    in_production(ledger, config_with())
    (pid, _), *_ = serve(ledger, 1)
    before = entries(ledger, explain.EVENT_TYPE)
    first = explain_prediction(ledger, pid, by="auditor")
    second = explain_prediction(ledger, pid, by="someone else")
    assert entries(ledger, explain.EVENT_TYPE) == before + 1
    assert first["recorded"] == second["recorded"]
    body = first["recorded"]["body"]
    assert body["text_sha256"] == explain.text_hash(first["text"])
    assert body["contributions"] == {t["feature"]: t["contribution"] for t in first["terms"]}
    stored = ledger.artifacts.read(first["recorded"]["artifact"]).decode()
    for term in first["terms"]:
        if isinstance(term["value"], str):
            assert json.dumps(term["value"]) not in stored  # the values are personal data: not in the record
    with ledger.read() as conn:
        kinds = conn.execute(select(Artifact.kind, Artifact.model_version_id).where(Artifact.name == f"prediction {pid}")).all()
    assert kinds == [("explanation", first["model_version_id"])]


def test_an_erased_input_is_said_not_guessed(sqlite_ledger: Ledger) -> None:
    in_production(sqlite_ledger, config_with())
    (told, _), (never, _), *_ = serve(sqlite_ledger, 2)
    explain_prediction(sqlite_ledger, told, by="auditor")
    retention.erase_subject(sqlite_ledger, "person-0", reason="art. 17 request", by="dpo")
    retention.erase_subject(sqlite_ledger, "person-1", reason="art. 17 request", by="dpo")
    with pytest.raises(explain.PayloadErased) as caught:
        explain_prediction(sqlite_ledger, never, by="auditor")
    assert str(caught.value).startswith(f"the input of prediction {never} was erased (erasure, ")
    assert str(caught.value).endswith("by dpo: art. 17 request); its explanation was never given before and cannot "
                                      "be computed without it: none is guessed")
    shown = explain_prediction(sqlite_ledger, told, by="auditor")
    assert "terms" not in shown and shown["erased"].startswith(f"the input of prediction {told} was erased")
    assert shown["recorded"]["body"]["method"] == "exact-linear"  # what the person was told, from the ledger


def test_a_redacted_feature_cannot_be_explained(sqlite_ledger: Ledger) -> None:
    in_production(sqlite_ledger, config_with(redact=["credit_amount"]))
    (pid, _), *_ = serve(sqlite_ledger, 1)
    with pytest.raises(InputError) as caught:
        explain_prediction(sqlite_ledger, pid, by="auditor")
    assert str(caught.value) == (f"prediction {pid}: the feature(s) credit_amount were redacted when logged "
                                 "(logging.redact): the model's input cannot be rebuilt, so the decision cannot be "
                                 "explained from the record")


def test_an_unknown_prediction_is_named(sqlite_ledger: Ledger) -> None:
    with pytest.raises(InputError) as caught:
        explain_prediction(sqlite_ledger, "nope", by="auditor")
    assert str(caught.value) == "no prediction has the id or request id 'nope'"
