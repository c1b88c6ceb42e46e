"""`govflow.yaml` errors: each names the key path and the fix, and the CLI exits 2 with one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from govflow.errors import ConfigError
from govflow.governance.config import load_config
from govflow.governance.registry.datasets import load_training_frame

from .conftest import DEFAULT

GOVFLOW = Path(sys.executable).with_name("govflow")


def write(tmp_path: Path, change: dict, *, drop: tuple[str, str] | None = None) -> Path:
    raw = yaml.safe_load(DEFAULT.read_text())
    raw["data"]["train"] = str(DEFAULT.parent / "german_credit.csv")
    for section, values in change.items():
        raw[section] = {**raw.get(section, {}), **values} if isinstance(values, dict) else values
    if drop:
        del raw[drop[0]][drop[1]]
    path = tmp_path / "govflow.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(("change", "drop", "message"), [
    ({"policy": {"fairness": {"demographic_parity_diference_max": 0.1}}}, None,
     "policy.fairness.demographic_parity_diference_max: unknown key; did you mean demographic_parity_difference_max?"),
    ({"model": {"estimator": "xgboost"}}, None,
     "model.estimator: unknown estimator 'xgboost'; choose one of: logistic_regression, hist_gradient_boosting, random_forest"),
    ({}, ("data", "target"),
     "data.target: required key is missing; add it (see `govflow init` for a commented example)"),
    ({"sytem": {"name": "x"}}, None, "sytem: unknown key; did you mean 'system'?"),
    ({"logging": {"retention_days": 30}}, None,
     "logging.retention_days: must be at least 183 days: EU AI Act Art. 19 keeps logs at least six months"),
    ({"system": {"name": "Credit Scoring"}}, None,
     "system.name: use lower-case letters, digits, '-' and '_' (e.g. credit-scoring)"),
])
def test_config_errors_name_the_key_and_the_fix(tmp_path: Path, change: dict, drop, message: str) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, change, drop=drop)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value) == f"{path}: {message}"


def test_missing_data_file(tmp_path: Path) -> None:
    path = write(tmp_path, {"data": {"train": "nowhere.csv"}})
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value) == (f"{path}: data.train: file 'nowhere.csv' not found (looked for {tmp_path / 'nowhere.csv'}); "
                                "paths are relative to the config file's folder")


@pytest.mark.parametrize(("change", "message"), [
    ({"target": "credit_ok"}, "data.target: column 'credit_ok' is not in "),
    ({"sensitive_features": ["gender"]}, "data.sensitive_features[0]: column 'gender' is not in "),
    ({"positive_label": "approved"}, "data.positive_label: 'approved' never occurs in column 'creditability' of "),
])
def test_columns_named_in_the_config_must_be_in_the_data(tmp_path: Path, change: dict, message: str) -> None:
    config = load_config(write(tmp_path, {"data": change}))
    with pytest.raises(ConfigError) as error:
        load_training_frame(config)
    assert str(error.value).startswith(message)


def test_cli_config_error_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, {"model": {"estimator": "xgboost"}})
    result = subprocess.run([str(GOVFLOW), "--home", str(tmp_path / "home"), "run", "train", "-c", str(path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {path}: model.estimator: unknown estimator 'xgboost'; choose one of: logistic_regression, "
        "hist_gradient_boosting, random_forest")
    assert "Traceback" not in result.stderr


def test_cli_missing_config_file(tmp_path: Path) -> None:
    result = subprocess.run([str(GOVFLOW), "--home", str(tmp_path / "home"), "run", "gate", "-c", str(tmp_path / "none.yaml")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"error: config file {tmp_path / 'none.yaml'} not found; pass -c PATH, "
                                     "or create one with `govflow init`")


def test_init_writes_a_starter_that_loads(tmp_path: Path) -> None:
    target = tmp_path / "govflow.yaml"
    result = subprocess.run([str(GOVFLOW), "--home", str(tmp_path / "home"), "init", str(target)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    (tmp_path / "german_credit.csv").write_bytes((DEFAULT.parent / "german_credit.csv").read_bytes())
    assert load_config(target).system.name == "credit-scoring"
    again = subprocess.run([str(GOVFLOW), "--home", str(tmp_path / "home"), "init", str(target)],
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 2
    assert again.stderr.strip() == f"error: {target} already exists; pass --force to overwrite it, or choose another path"
