"""Explanations of single decisions: exact for a linear model, sampled baseline Shapley for a pipeline,
recorded the first time, and refused (never guessed) once the input is erased."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from govflow import canonical as canon
from govflow.checks.contract import infer_contract
from govflow.errors import InputError
from govflow.flows import steps
from govflow.flows.models import tabular as modeling
from govflow.flows.models.explaining import explain_prediction
from govflow.flows.serving import load_production
from govflow.governance.config import GovflowConfig, parse_config
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.fingerprint import fingerprint_model
from govflow.governance.ledger.schema import Artifact, AuditEntry
from govflow.governance.registry import versions as registry
from govflow.governance.registry.datasets import load_training_frame
from govflow.governance.trail import explain, retention
from govflow.governance.trail import predictions as preds
from tests.gate_record import record_completed_gate

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "tests" / "web" / "serving" / "credit-relaxed.govflow.yaml"
DATA = ROOT / "data" / "german_credit.csv"
INTEGER_COLUMNS = {"duration_in_month", "credit_amount", "installment_rate_in_percentage_of_disposable_income",
                   "present_residence_since", "age_in_years", "number_of_existing_credits_at_this_bank",
                   "number_of_people_being_liable_to_provide_maintenance_for"}
SENSITIVE = ("personal_status_and_sex", "age_in_years")


def config_with(**model: Any) -> GovflowConfig:
    raw = yaml.safe_load(CONFIG.read_text())
    raw["data"]["train"] = str(DATA)
    redact = model.pop("redact", None)
    if redact is not None:
        raw["logging"]["redact"] = redact
    raw["model"].update(model)
    return parse_config(raw, CONFIG.parent, source=str(CONFIG))


def in_production(ledger: Ledger, config: GovflowConfig) -> registry.VersionRef:
    """Train and register a version with its stored held-out, reference data and contract; gate, approve, promote."""
    frame = load_training_frame(config)
    train, holdout = modeling.split(config, frame)
    model = modeling.fit(config, train)
    contract = infer_contract(frame, policy=config.policy_model()).to_dict()
    attachments = [
        registry.Attachment("holdout_data", "holdout.parquet", steps.parquet_bytes(holdout), "application/vnd.apache.parquet"),
        registry.Attachment("reference_data", "reference.parquet", steps.parquet_bytes(train), "application/vnd.apache.parquet"),
        registry.Attachment("data_contract", "data_contract.json", steps.contract_bytes(contract), "application/json"),
    ]
    ref = registry.register_version(ledger, system=config.system.name, model_data=modeling.model_bytes(model),
                                    fingerprint=fingerprint_model(model), training_run_id=None, hyperparams={},
                                    config_snapshot=config.snapshot(), attachments=attachments, by="test")
    record_completed_gate(ledger, ref, reasons=["test"], policy=config.policy_model().to_dict())
    roles = list(config.policy_model().approvals)
    for role in roles:
        registry.approve(ledger, str(ref), approver=f"{role} tester", role=role, reason="test", required_roles=roles)
    return registry.promote(ledger, str(ref), by="test", required_roles=roles)


def requests(n: int) -> list[dict[str, Any]]:
    with open(DATA, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[:n]
    out = []
    for i, row in enumerate(rows):
        record = {k: (int(v) if k in INTEGER_COLUMNS else v) for k, v in row.items() if k != "creditability"}
        record["sensitive"] = {k: record.pop(k) for k in SENSITIVE}
        record["subject_id"] = f"person-{i}"
        out.append(record)
    return out


def serve(ledger: Ledger, n: int = 4) -> list[tuple[str, dict[str, Any]]]:
    """``n`` decisions of the production version, logged as serving logs them: (prediction id, output)."""
    served = load_production(ledger, "credit-scoring")
    valid = served.schema.validate(requests(n))
    outputs = served.predict(valid)
    logged = [preds.make_record(request_id=f"req-{i}", system="credit-scoring", model_version_id=served.version.id,
                                output=out, valid=v, latency_ms=1.0, served_at=canon.utc_now(), caller="test",
                                redaction=served.redaction) for i, (v, out) in enumerate(zip(valid, outputs))]
    preds.write_predictions(ledger, logged)
    return [(r.id, out) for r, out in zip(logged, outputs)]


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
