"""The registration flow: a model fitted outside govflow becomes a candidate version like a trained one.

Recorded step by step as the training flow is: the config, the model file and the two data files
(by their fingerprints; the data sets as dataset versions with edges), the data contract both files
are validated against, the held-out performance, and the new version with what the gate, serving
and monitoring read from a trained one (held-out data, reference data, data contract), plus the
model file itself and who registered it. `check_inputs` refuses bad input before the ledger is
touched; the flow repeats the same checks, recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from govflow.checks.results import SuiteResult
from govflow.errors import ComplianceBlocked, DataError
from govflow.flows import steps
from govflow.flows.models import files as model_files
from govflow.flows.models import tabular as modeling
from govflow.flows.recording import current_run_id, flow, get_ledger, task
from govflow.flows.train import CANDIDATE_EVENT
from govflow.governance.config import GovflowConfig
from govflow.governance.ledger.fingerprint import fingerprint_model
from govflow.governance.registry import versions as registry
from govflow.governance.registry.datasets import check_columns, feature_columns, read_frame

LOAD_TASK = "load_given_data"  # governance.evidence reads its outputs as the training and held-out data
MISSING_LABELS = "{file}: data.target: column '{target}' has {count} missing values (first at row {row}); label them or drop those rows"
NOT_BINARY = ("{file}: data.target: column '{target}' has {count} classes ({labels}); govflow supports a binary "
              "target only (the favourable outcome, data.positive_label {positive}, and one other)")
ONE_CLASS = ("{file}: data.target: column '{target}' has a single class ('{label}'); the held-out data needs both "
             "outcomes to measure the model (ROC AUC, error rates per group)")
OTHER_COLUMNS = ("the training and held-out files give the model different columns: {train} has {train_only}, "
                 "{test} has {test_only}; use files with the same columns")
UNSCORABLE = "cannot score {file} with the model in {model}: {reason}; the model must take the config's features as a DataFrame"
INVALID = "{file} failed validation against the data contract: {reasons}"


@dataclass(frozen=True)
class Origin:
    """Where a registered model came from, as the registrant states it."""

    registered_by: str
    trained_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"registered_by": self.registered_by, "os_user": registry.os_user(),
                "trained_by": self.trained_by or self.registered_by}


@dataclass(frozen=True)
class RegisterOutcome:
    version: str  # NAME:VERSION
    model_version_id: str
    performance: SuiteResult

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "model_version_id": self.model_version_id,
                "performance_passed": self.performance.passed}


# -- plain functions (tested through the command) -----------------------------------------------

def read_given(config: GovflowConfig, file: Path, role: str, *, both_classes: bool) -> pd.DataFrame:
    """A training or held-out file, checked against the config as training data is."""
    frame = read_frame(file, f"{file.name} ({role})")
    check_columns(config, frame, str(file))
    target, positive = config.data.target, config.data.positive_label
    missing = frame[target].isna().to_numpy()
    if missing.any():
        raise DataError(MISSING_LABELS.format(file=file, target=target, count=int(missing.sum()),
                                              row=int(missing.argmax()) + 1))
    labels = sorted(map(str, frame[target].unique()))
    if len(labels) > 2:
        raise DataError(NOT_BINARY.format(file=file, target=target, count=len(labels),
                                          labels=", ".join(labels[:10]), positive=positive))
    if both_classes and len(labels) < 2:
        raise DataError(ONE_CLASS.format(file=file, target=target, label=labels[0]))
    return frame


def read_pair(config: GovflowConfig, train_file: Path, test_file: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    train = read_given(config, train_file, "training data", both_classes=False)
    test = read_given(config, test_file, "held-out data", both_classes=True)
    a, b = feature_columns(config, train), feature_columns(config, test)
    if a != b:
        raise DataError(OTHER_COLUMNS.format(train=train_file, test=test_file,
                                             train_only=", ".join(c for c in a if c not in b) or "another order",
                                             test_only=", ".join(c for c in b if c not in a) or "another order"))
    return train, test


def read_model(config: GovflowConfig, model_file: Path, train: pd.DataFrame, test: pd.DataFrame,
               trust: list[str], trust_pickle: bool) -> tuple[Any, str]:
    """The model in the file, checked to be a fitted binary classifier of the config's features."""
    model, fmt = model_files.read_model_file(model_file, trust=trust, trust_pickle=trust_pickle)
    model_files.check_classifier(model, model_file, config, train[config.data.target].unique().tolist())
    model_files.check_features(model, model_file, feature_columns(config, train))
    try:
        modeling.score(config, model, test.head(50))
    except Exception as e:  # the model's own code fails on the data: the user's input, not ours
        reason = f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0]}"
        raise DataError(UNSCORABLE.format(file=test.attrs.get("govflow:uri", "the held-out data"),
                                          model=model_file, reason=reason)) from e
    return model, fmt


def check_inputs(config: GovflowConfig, model_file: Path, train_file: Path, test_file: Path,
                 trust: list[str], trust_pickle: bool) -> None:
    """Every refusal the flow would make for bad input, made before the ledger is touched."""
    train, test = read_pair(config, train_file, test_file)
    contract_for(config, train, test)  # a written contract that does not load is refused here too
    read_model(config, model_file, train, test, trust, trust_pickle)


def contract_for(config: GovflowConfig, train: pd.DataFrame, holdout: pd.DataFrame) -> dict[str, Any]:
    """The config's contract, or one inferred from both files (as training infers it before its split)."""
    from govflow.checks.contract import Contract, infer_contract

    if config.data.contract is not None:
        return Contract.from_dict(config.data.contract).to_dict()
    both = pd.concat([train, holdout], ignore_index=True)
    return infer_contract(both, id_columns=[config.data.id_column] if config.data.id_column else [],
                          policy=config.policy_model()).to_dict()


# -- recorded steps ----------------------------------------------------------------------------

@task(name=LOAD_TASK)
def load_given_data(config: GovflowConfig, train_file: Path, test_file: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training and held-out data the model was fitted and is to be judged on, as given."""
    return read_pair(config, train_file, test_file)


@task
def given_data_contract(config: GovflowConfig, train: pd.DataFrame, holdout: pd.DataFrame) -> dict[str, Any]:
    return contract_for(config, train, holdout)


@task
def load_model_file(config: GovflowConfig, model_file: Path, train: pd.DataFrame, holdout: pd.DataFrame,
                    trust: list[str], trust_pickle: bool) -> Any:
    """The fitted model in the file (its bytes are this step's input, the model its output)."""
    return read_model(config, model_file, train, holdout, trust, trust_pickle)[0]


@task
def register_given_model(config: GovflowConfig, model: Any, model_file: Path, train: pd.DataFrame,
                         holdout: pd.DataFrame, contract: dict[str, Any], origin: dict[str, Any],
                         registration_run_id: str) -> str:
    """Register the model as a new candidate version, with its file and data; returns NAME:VERSION."""
    data = model_file.read_bytes()
    fmt = "skops" if model_file.suffix.lower() in model_files.SKOPS_SUFFIXES else "pickle"
    attachments = [
        registry.Attachment("holdout_data", "holdout.parquet", steps.parquet_bytes(holdout), "application/vnd.apache.parquet"),
        registry.Attachment("reference_data", "reference.parquet", steps.parquet_bytes(train), "application/vnd.apache.parquet"),
        registry.Attachment("data_contract", "data_contract.json", steps.contract_bytes(contract), "application/json"),
        registry.Attachment("model_file", model_file.name, data, "application/octet-stream"),
    ]
    params = model.get_params(deep=False) if hasattr(model, "get_params") else {}
    hyperparams = {"estimator": model_files.kind_of(model), "trained_outside_govflow": True, **origin,
                   "model_file": {"name": model_file.name, "format": fmt, "sha256": _sha256(data)},
                   "steps": {k: repr(v) for k, v in params.items()}}
    trained_by = origin.get("trained_by")
    source = f"MLflow {origin['mlflow']['uri']} ({model_file.name})" if origin.get("mlflow") else model_file.name
    version = registry.register_version(
        get_ledger(), system=config.system.name, model_data=modeling.model_bytes(model),
        fingerprint=fingerprint_model(model), training_run_id=registration_run_id, hyperparams=hyperparams,
        config_snapshot=config.snapshot(), attachments=attachments, by=origin["registered_by"],
        reason=f"registered from {source}, a model trained outside govflow by {trained_by}",
    )
    _emit_candidate_event(config, str(version))
    return str(version)


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _emit_candidate_event(config: GovflowConfig, version: str) -> None:
    from prefect.events import emit_event

    emit_event(event=CANDIDATE_EVENT, resource={"prefect.resource.id": f"govflow.model.{version}",
                                                "govflow.system": config.system.name, "govflow.version": version})


@flow(name="register")
def register_flow(config_path: str, model_file: str, train_file: str, test_file: str, registered_by: str,
                  trained_by: str | None = None, trust: list[str] | None = None,
                  trust_pickle: bool = False, mlflow: dict[str, Any] | None = None) -> RegisterOutcome:
    config = steps.load_system_config(Path(config_path).absolute())
    train, holdout = load_given_data(config, Path(train_file).absolute(), Path(test_file).absolute())
    contract = given_data_contract(config, train, holdout)
    for frame, file in ((train, train_file), (holdout, test_file)):
        validation = steps.validate_data(frame, contract)
        if not validation.passed:
            reasons = "; ".join(f"{r.subject}: {r.name}" for r in validation.blocking[:5])
            raise ComplianceBlocked(INVALID.format(file=file, reasons=reasons))
    model = load_model_file(config, Path(model_file).absolute(), train, holdout, list(trust or []), trust_pickle)
    performance = steps.evaluate_model(config, model, holdout)
    run_id = current_run_id()
    assert run_id is not None
    origin = {**Origin(registered_by, trained_by).to_dict(), **({"mlflow": mlflow} if mlflow else {})}
    version = register_given_model(config, model, Path(model_file).absolute(), train, holdout, contract, origin, run_id)
    with get_ledger().read() as conn:
        ref = registry.resolve(conn, version)
    return RegisterOutcome(version=version, model_version_id=ref.id, performance=performance)
