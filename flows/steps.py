"""The recorded steps shared by govflow's flows: thin tasks over plain functions.

Each task's inputs, outputs and check results are recorded by `govflow.flows.recording`; the logic lives
in `checks/`, `governance/` and `flows/models/tabular.py`, where it is tested on its own.
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from govflow.checks.fairness import assess_fairness
from govflow.checks.performance import assess_performance
from govflow.checks.results import SuiteResult
from govflow.errors import DataError
from govflow.flows.models import tabular as modeling
from govflow.flows.recording import task
from govflow.governance.config import GovflowConfig, load_config
from govflow.governance.registry.datasets import binary_target, load_training_frame, unused_columns


@task
def load_system_config(config_file: Path) -> GovflowConfig:
    """The system's govflow.yaml, validated (the file's bytes are recorded as this step's input)."""
    return load_config(config_file)


@task
def load_data(config: GovflowConfig) -> pd.DataFrame:
    """The system's training data, from its file, checked against the config."""
    return load_training_frame(config)


@task
def infer_data_contract(config: GovflowConfig, frame: pd.DataFrame) -> dict[str, Any]:
    """The data contract: written in the config, or inferred from the training data."""
    from govflow.checks.contract import Contract, infer_contract

    if config.data.contract is not None:
        return Contract.from_dict(config.data.contract).to_dict()
    return infer_contract(frame, id_columns=[config.data.id_column] if config.data.id_column else [],
                          policy=config.policy_model(), unused=unused_columns(config, frame)).to_dict()


@task
def validate_data(frame: pd.DataFrame, contract: dict[str, Any]) -> SuiteResult:
    from govflow.checks.contract import Contract
    from govflow.checks.validation import validate

    # Prefect's logging set-up would show Great Expectations' INFO chatter on screen.
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    return validate(frame, Contract.from_dict(contract))


@task
def split_data(config: GovflowConfig, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    return modeling.split(config, frame)


@task
def fit_model(config: GovflowConfig, train: pd.DataFrame, factory: dict[str, Any] | None = None) -> Any:
    """Fit the model; ``factory`` (`FactoryRecord.to_dict`) records the team's own code that built it."""
    return modeling.fit(config, train)


MISSING_SENSITIVE = (
    "data.sensitive_features: column '{column}' is not in the data being checked ({name}); "
    "use the config the version was trained with, or retrain with this one"
)


def _sensitive(config: GovflowConfig, frame: pd.DataFrame) -> pd.DataFrame:
    columns = [s.column for s in config.data.sensitive()]
    for column in columns:
        if column not in frame.columns:
            raise DataError(MISSING_SENSITIVE.format(column=column, name=frame.attrs.get("govflow:name", "frame")))
    return frame[columns]


@task
def evaluate_model(config: GovflowConfig, model: Any, frame: pd.DataFrame) -> SuiteResult:
    """Performance on held-out data, overall and per sensitive group."""
    y_pred, y_score = modeling.score(config, model, frame)
    return assess_performance(
        y_true=binary_target(config, frame[config.data.target]), y_score=y_score, y_pred=y_pred,
        positive_label=1, sensitive=_sensitive(config, frame),
        sensitive_features=[s.model_dump() for s in config.data.sensitive()], policy=config.policy_model(),
    )


@task
def assess_model_fairness(config: GovflowConfig, model: Any, frame: pd.DataFrame) -> SuiteResult:
    """Between-group disparities of the model's decisions on held-out data."""
    y_pred, y_score = modeling.score(config, model, frame)
    return assess_fairness(
        y_true=binary_target(config, frame[config.data.target]), y_pred=y_pred, y_score=y_score,
        sensitive=_sensitive(config, frame), positive_label=1,
        sensitive_features=[s.model_dump() for s in config.data.sensitive()], policy=config.policy_model(),
    )


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def read_parquet_bytes(data: bytes, name: str) -> pd.DataFrame:
    frame = pd.read_parquet(io.BytesIO(data))
    frame.attrs["govflow:name"] = name
    return frame


def contract_bytes(contract: dict[str, Any]) -> bytes:
    return json.dumps(contract, sort_keys=True, indent=1).encode("utf-8")
