"""The training flow: load -> validate -> seeded split -> fit -> evaluate -> register a candidate.

Every step is recorded. A candidate is registered with its model bytes, its held-out and training
splits (the gate checks exactly that held-out data; monitoring compares against that reference),
its data contract and the config in force. Registration emits the Prefect event
``govflow.model.candidate``, which a deployment triggers the gate on (deployments/prefect.yaml).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from govflow.checks.results import SuiteResult
from govflow.errors import ComplianceBlocked
from govflow.flows import run_log, steps
from govflow.flows.models import tabular as modeling
from govflow.flows.recording import current_run_id, flow, get_ledger, label_run, task
from govflow.governance.config import GovflowConfig
from govflow.governance.ledger.fingerprint import fingerprint_model
from govflow.governance.registry import versions as registry
from govflow.governance.registry.datasets import check_columns, check_trainable
from govflow.governance.registry.factories import record as factory_record

CANDIDATE_EVENT = "govflow.model.candidate"


@dataclass(frozen=True)
class TrainOutcome:
    version: str  # NAME:VERSION
    model_version_id: str
    validation: SuiteResult
    performance: SuiteResult

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "model_version_id": self.model_version_id,
                "validation_passed": self.validation.passed, "performance_passed": self.performance.passed}


@task
def register_candidate(config: GovflowConfig, model: Any, train: pd.DataFrame, holdout: pd.DataFrame,
                       contract: dict[str, Any], training_run_id: str) -> str:
    """Register the fitted model as a new candidate version; returns NAME:VERSION."""
    model_data = modeling.model_bytes(model)
    attachments = [
        registry.Attachment("holdout_data", "holdout.parquet", steps.parquet_bytes(holdout), "application/vnd.apache.parquet"),
        registry.Attachment("reference_data", "reference.parquet", steps.parquet_bytes(train), "application/vnd.apache.parquet"),
        registry.Attachment("data_contract", "data_contract.json", steps.contract_bytes(contract), "application/json"),
    ]
    params = model.get_params(deep=False) if hasattr(model, "get_params") else {}
    hyperparams = {"estimator": config.model.kind, "mitigation": config.model.mitigation,
                   "params": config.model.params, "steps": {k: repr(v) for k, v in params.items()}}
    if config.model.factory:  # the team's own code that built the model, recorded like code
        hyperparams["factory"] = factory_record(config.model.factory, Path(config.base_dir)).to_dict()
    version = registry.register_version(
        get_ledger(), system=config.system.name, model_data=model_data, fingerprint=fingerprint_model(model),
        training_run_id=training_run_id, hyperparams=hyperparams, config_snapshot=config.snapshot(),
        attachments=attachments, by=registry.os_user(),
    )
    _emit_candidate_event(config, str(version))
    return str(version)


def _emit_candidate_event(config: GovflowConfig, version: str) -> None:
    from prefect.events import emit_event

    emit_event(event=CANDIDATE_EVENT, resource={"prefect.resource.id": f"govflow.model.{version}",
                                                "govflow.system": config.system.name, "govflow.version": version})


GIVEN_DATA = "the data passed to govflow.train"


@flow(name="train")
def train_flow(config_path: str, data: pd.DataFrame | None = None) -> TrainOutcome:
    """Train from the config's data file, or from ``data``: a frame the caller's own flow built."""
    config = steps.load_system_config(Path(config_path).absolute())
    label_run(f"train {config.system.name}", config.system.name)
    if data is None:
        raw = steps.load_data(config)
    else:  # not a step of its own: the caller's step that produced the frame stays its producer in the lineage
        check_columns(config, data, GIVEN_DATA)
        check_trainable(config, data, GIVEN_DATA)
        raw = data
    contract = steps.infer_data_contract(config, raw)
    validation = steps.validate_data(raw, contract)
    if not validation.passed:
        reasons = "; ".join(f"{r.subject}: {r.name}" for r in validation.blocking[:5])
        raise ComplianceBlocked(f"training data failed validation against its contract: {reasons}")
    train, holdout = steps.split_data(config, raw)
    factory = factory_record(config.model.factory, Path(config.base_dir)).to_dict() if config.model.factory else None
    model = steps.fit_model(config, train, factory)
    performance = steps.evaluate_model(config, model, holdout)
    run_id = current_run_id()
    assert run_id is not None
    version = register_candidate(config, model, train, holdout, contract, run_id)
    with get_ledger().read() as conn:
        ref = registry.resolve(conn, version)
    run_log.log_step("candidate registered", {"version": version, "rows_train": len(train), "rows_holdout": len(holdout),
                                              **{r.name: r.observed for r in performance.results if r.subject == "overall"}})
    return TrainOutcome(version=version, model_version_id=ref.id, validation=validation, performance=performance)
