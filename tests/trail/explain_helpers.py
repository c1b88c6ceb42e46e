"""Helpers for the explanation and search tests: a credit-scoring version in production (with the
reference data an explanation's baseline needs), and decisions logged as serving logs them."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import yaml

from govflow import canonical as canon
from govflow.checks.contract import infer_contract
from govflow.flows import steps
from govflow.flows.models import tabular as modeling
from govflow.flows.serving import load_production
from govflow.governance.config import GovflowConfig, parse_config
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.fingerprint import fingerprint_model
from govflow.governance.registry import versions as registry
from govflow.governance.registry.datasets import load_training_frame
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
