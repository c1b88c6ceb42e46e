"""A team's own pipeline (`model.factory`) and the columns the model sees (`data.features`), issue #15.

Through the real `govflow` CLI: a `Pipeline` with a `ColumnTransformer` (imputation, scaling, one-hot
encoding) trains on a frame with a numeric, categorical and missing mix and an entirely empty unused
column; its factory's source hash and version are in the ledger, `trace model` and the model card; it
passes the gate, is approved, promoted and scores a file. Each bad factory and each bad allow-list is
exit 2 with its message. Each mitigation trains on a pipeline, or is refused naming the combination.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import sqlite3
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from govflow.errors import DataError
from govflow.flows.models import tabular as modeling
from govflow.governance.config import load_config
from govflow.governance.registry.datasets import load_training_frame

from .test_refused_input import refused, run_train

PIPELINE = '''
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import OneHotEncoder, StandardScaler


class Thousands(TransformerMixin, BaseEstimator):
    """The team's own step: a class of this module, pickled by reference with the model."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X / 1000.0


def build(seed=0, final="hgb"):
    prep = ColumnTransformer([
        ("numeric", make_pipeline(SimpleImputer(), Thousands(), StandardScaler()), ["age", "income"]),
        ("categorical", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                      OneHotEncoder(handle_unknown="ignore")), ["job"]),
    ])
    last = (HistGradientBoostingClassifier(max_iter=30, random_state=seed) if final == "hgb"
            else LogisticRegression(max_iter=500))
    return Pipeline([("prep", prep), ("clf", last)])
'''

RELAXED_POLICY = """policy:
  fairness: {demographic_parity_difference_max: 0.5, equalized_odds_difference_max: 0.5,
             disparate_impact_ratio_min: 0.3, min_group_size: 30}
  performance: {roc_auc_min: 0.5}
  validation: {null_rate_tolerance: 0.2}
  approvals: [model_owner]
"""


def frame(rows: int = 400) -> pd.DataFrame:
    """Numbers with gaps, a category with gaps, a sensitive attribute, an empty and an excluded column."""
    rng = np.random.default_rng(7)
    age = rng.integers(18, 80, rows).astype(float)
    income = rng.normal(3000, 800, rows).round(1)
    job = rng.choice(["clerk", "manager", "worker", "none"], rows).astype(object)
    logit = (income - 3000) / 500 + (age - 45) / 20 + np.where(job == "manager", 1.0, 0.0)
    outcome = np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), "good", "bad")
    age[rng.random(rows) < 0.1] = np.nan
    job[rng.random(rows) < 0.1] = None
    return pd.DataFrame({"age": age, "income": income, "job": job, "sex": rng.choice(["f", "m"], rows),
                         "notes": np.nan, "phone": rng.integers(0, 2, rows), "outcome": outcome})


def project(tmp_path: Path, *, module: str | None = None, source: str = PIPELINE, model: str | None = None,
            data: str | None = None, policy: str = RELAXED_POLICY) -> tuple[Path, str]:
    """A folder with data.csv, the factory module (a fresh name: modules are cached per process) and a config."""
    module = module or f"team_model_{secrets.token_hex(4)}"
    (tmp_path / f"{module}.py").write_text(source, encoding="utf-8")
    frame().to_csv(tmp_path / "data.csv", index=False)
    model = model if model is not None else f'  factory: "{module}:build"\n'
    data = data if data is not None else "  features: [age, income, job]\n  exclude: [phone]\n"
    text = ("system: {name: own-pipeline, intended_purpose: Decide on loan applications with the team's pipeline}\n"
            "data:\n  train: data.csv\n  target: outcome\n  positive_label: good\n  sensitive_features: [sex]\n"
            f"{data}model:\n{model}{policy}")
    config = tmp_path / "govflow.yaml"
    config.write_text(text, encoding="utf-8")
    return config, module


def cli(monkeypatch: Any, capsys: Any, home: Path, *args: str) -> tuple[int, str, str]:
    """`govflow --home HOME ARGS...` through the real entry point, in this process."""
    import os

    from govflow.cli.main import main

    for name in ("GOVFLOW_HOME", "PREFECT_API_URL", "PREFECT_HOME"):
        if name in os.environ:
            monkeypatch.setenv(name, os.environ[name])
        else:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "argv", ["govflow", "--home", str(home), *args])
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_pipeline_factory_through_train_gate_promote_and_score(monkeypatch: Any, capsys: Any, tmp_path: Path) -> None:
    config, module = project(tmp_path)
    home = tmp_path / "home"
    path_before = list(sys.path)
    code, out, err = run_train(monkeypatch, capsys, config, home)
    assert code == 0, (out, err)
    assert "registered own-pipeline:1 as candidate (validation passed" in out
    assert sys.path == path_before  # the config's folder was put first for the import, then removed

    source_hash = hashlib.sha256((tmp_path / f"{module}.py").read_bytes()).hexdigest()
    expected = {"spec": f"{module}:build", "module_version": "unversioned", "source_hash": source_hash,
                "source_file": str(tmp_path / f"{module}.py")}
    with sqlite3.connect(home / "ledger.db") as db:
        hyper = json.loads(db.execute("SELECT hyperparams_json FROM model_versions").fetchone()[0])
        fit_params = json.loads(db.execute("SELECT params_json FROM runs WHERE name = 'fit_model'").fetchone()[0])
    assert hyper["factory"] == expected
    assert hyper["estimator"] == f"factory {module}:build"
    assert fit_params["factory"] == expected  # the training run records the code that built the model
    assert "ColumnTransformer" in hyper["steps"]["steps"]

    code, out, err = cli(monkeypatch, capsys, home, "trace", "model", "own-pipeline:1")
    assert code == 0, err
    assert f"built by factory {module}:build · unversioned · source sha256:{source_hash[:12]}" in out

    code, out, err = cli(monkeypatch, capsys, home, "run", "gate", "-c", str(config), "--version", "1")
    assert code == 0, (out, err)
    assert out.startswith("gate PASS for own-pipeline:1")
    with sqlite3.connect(home / "ledger.db") as db:
        (uri,) = db.execute("SELECT uri FROM artifacts WHERE name = 'model-card-own-pipeline-v1.md'").fetchone()
    card = (home / uri).read_text(encoding="utf-8")
    assert (f"`{module}:build` (the team's own code: module version `unversioned`, source sha256 `{source_hash}`)"
            in card)

    assert cli(monkeypatch, capsys, home, "approve", "own-pipeline:1", "--as", "Dana Meyer", "--role", "model_owner",
               "--reason", "pipeline reviewed")[0] == 0
    assert cli(monkeypatch, capsys, home, "promote", "own-pipeline:1")[0] == 0
    rows = frame().drop(columns=["outcome"]).head(25)
    rows.to_csv(tmp_path / "applicants.csv", index=False)
    code, out, err = cli(monkeypatch, capsys, home, "run", "score", "-c", str(config), "--input",
                         str(tmp_path / "applicants.csv"))
    assert code == 0, (out, err)
    assert "scored 25 rows of" in out and "with own-pipeline:1" in out
    assert "columns not used: notes, phone" in out  # raw columns the pipeline does not take (sex: assessed)

    import httpx

    from govflow.governance.ledger.engine import Ledger
    from tests.web.serving.helpers import server

    ledger = Ledger.open(home=home)  # `govflow serve` in its own process, where the factory's module was never imported
    try:
        with server(ledger) as (base, _):
            answer = httpx.post(f"{base}/predict/own-pipeline", timeout=60,
                                json={"age": None, "income": 3100.0, "job": "clerk", "sensitive": {"sex": "f"}})
    finally:
        ledger.close()
    assert answer.status_code == 200, answer.text
    assert set(answer.json()["predictions"][0]) >= {"prediction_id", "decision", "score"}


def test_a_model_fitted_from_the_factory_is_what_is_stored(tmp_path: Path) -> None:
    """The stored model is the factory's pipeline itself, fitted on the raw feature columns."""
    from sklearn.pipeline import Pipeline

    config, _ = project(tmp_path)
    cfg = load_config(config)
    train, holdout = modeling.split(cfg, load_training_frame(cfg))
    model = modeling.load_model(modeling.model_bytes(modeling.fit(cfg, train)))
    assert isinstance(model, Pipeline) and list(model.feature_names_in_) == ["age", "income", "job"]
    decisions, scores = modeling.score(cfg, model, holdout)
    assert len(decisions) == len(holdout) and 0.0 <= scores.min() and scores.max() <= 1.0


# -- bad factories: exit 2 with the reason, before the ledger exists -----------------------------

BAD_FACTORIES = {
    "missing_module": ('  factory: "no_such_team_module:build"\n', None,
                       "model.factory: no module 'no_such_team_module' (from \"no_such_team_module:build\"): looked in "
                       "{folder} (the config file's folder) and the environment; put no_such_team_module.py beside "
                       "govflow.yaml, or install the package that has it"),
    "missing_function": ('  factory: "{module}:buidl"\n', PIPELINE,
                         "model.factory: module '{module}' ({folder}/{module}.py) has no function 'buidl' (did you mean "
                         "'build'?); name a function that returns a scikit-learn estimator"),
    "raises": ('  factory: "{module}:build"\n', "def build():\n    raise RuntimeError('no GPU here')\n",
               "model.factory: \"{module}:build\" raised RuntimeError: no GPU here when called; fix the factory (it is "
               "called with model.params as keyword arguments)"),
    "not_an_estimator": ('  factory: "{module}:build"\n', "def build():\n    return 'logistic'\n",
                         "model.factory: \"{module}:build\" returned a str, which is not a scikit-learn classifier: it "
                         "has no fit or predict or predict_proba; return an estimator with fit, predict and "
                         "predict_proba (e.g. a Pipeline ending in LogisticRegression)"),
    "no_predict_proba": ('  factory: "{module}:build"\n',
                         "from sklearn.svm import LinearSVC\n\ndef build():\n    return LinearSVC()\n",
                         "model.factory: \"{module}:build\" returned a LinearSVC, which is not a scikit-learn "
                         "classifier: it has no predict_proba; return an estimator with fit, predict and predict_proba "
                         "(e.g. a Pipeline ending in LogisticRegression)"),
    "not_cloneable": ('  factory: "{module}:build"\n',
                      "class Model:\n    def fit(self, X, y): return self\n    def predict(self, X): return X\n"
                      "    def predict_proba(self, X): return X\n\ndef build():\n    return Model()\n",
                      "model.factory: \"{module}:build\" returned a Model that sklearn.base.clone cannot copy "
                      "(TypeError: Cannot clone object '<{module}.Model object at ADDRESS>' (type <class "
                      "'{module}.Model'>): it does not seem to be a scikit-learn estimator as it does not implement a "
                      "'get_params' method.); build it from scikit-learn estimators, or give your class "
                      "get_params/set_params (subclass sklearn.base.BaseEstimator)"),
    "import_fails": ('  factory: "{module}:build"\n', "import no_such_dependency_xyz\n",
                     "model.factory: importing module '{module}' (from \"{module}:build\") failed: "
                     "ModuleNotFoundError: No module named 'no_such_dependency_xyz'; fix the module (or install what "
                     "it imports)"),
    "not_a_function": ('  factory: "{module}:build"\n', "build = 42\n",
                       "model.factory: 'build' in module '{module}' is not callable (a value of type int); name a "
                       "function that returns a scikit-learn estimator"),
    "installed_class": ('  factory: "sklearn.svm:SVC"\n', PIPELINE,
                        "model.factory: \"sklearn.svm:SVC\" returned a SVC, which is not a scikit-learn classifier: it "
                        "has no predict_proba; return an estimator with fit, predict and predict_proba (e.g. a Pipeline "
                        "ending in LogisticRegression)"),
    "unknown_param": ('  factory: "{module}:build"\n  params: {{depth: 3}}\n', PIPELINE,
                      "model.params: the factory \"{module}:build\" is called with model.params as keyword arguments, "
                      "and got an unexpected keyword argument 'depth' (its parameters: seed, final); fix model.params "
                      "or the factory's parameters"),
    "both": ('  estimator: logistic_regression\n  factory: "{module}:build"\n', PIPELINE,
             "model: give model.estimator or model.factory, not both: the factory builds the whole model"),
    "malformed": ('  factory: "{module}.build"\n', PIPELINE,
                  "model.factory: '{module}.build' is not of the form \"package.module:function\" (e.g. "
                  "\"my_model:build_pipeline\" for build_pipeline() in my_model.py beside this file)"),
}


@pytest.mark.parametrize("case", sorted(BAD_FACTORIES))
def test_a_bad_factory_is_refused(monkeypatch: Any, capsys: Any, tmp_path: Path, case: str) -> None:
    model, source, message = BAD_FACTORIES[case]
    module = f"team_model_{secrets.token_hex(4)}"
    config, _ = project(tmp_path, module=module, source=source or "", model=model.format(module=module))
    line = refused(monkeypatch, capsys, config)
    expected = f"error: {config}: " + message.format(module=module, folder=tmp_path)
    assert re.sub(r" at 0x[0-9a-f]+>", " at ADDRESS>", line) == expected  # not_cloneable quotes an address


# -- data.features ------------------------------------------------------------------------------

def test_an_unused_empty_column_no_longer_stops_training(tmp_path: Path) -> None:
    """`notes` is entirely empty: without the allow-list it is a feature and refused; with it, recorded only."""
    from govflow.checks.contract import infer_contract
    from govflow.flows.steps import infer_data_contract

    config, _ = project(tmp_path)
    cfg = load_config(config)
    raw = load_training_frame(cfg)
    contract = infer_data_contract.fn(cfg, raw)
    assert contract["columns"]["notes"] == {"type": "float", "min": None, "max": None, "allowed": None,
                                            "max_null_rate": 1.0, "unique": False}
    assert set(contract["columns"]) == set(raw.columns)  # the contract still records every column
    with pytest.raises(DataError, match="column 'notes' in the training data has only missing values"):
        infer_contract(raw)


def test_an_unused_column_is_not_checked_as_a_model_input(tmp_path: Path) -> None:
    """A number pandas cannot read (1e400) is refused in a feature, not in an excluded column."""
    config, _ = project(tmp_path)
    data = frame()
    data["phone"] = data["phone"].astype(str)
    data.loc[3, "phone"] = "1e400"
    data.to_csv(tmp_path / "data.csv", index=False)
    assert load_training_frame(load_config(config))["phone"].iloc[3] == "1e400"
    config.write_text(config.read_text().replace("features: [age, income, job]", "features: [age, income, phone]")
                      .replace("  exclude: [phone]\n", ""))
    with pytest.raises(DataError, match="column 'phone', row 4: value '1e400' is not a number that fits a 64-bit float"):
        load_training_frame(load_config(config))


FEATURE_ERRORS = {
    "not_in_data": ("  features: [age, income, salary]\n",
                    "data.features[2]: column 'salary' is not in data.csv (columns: age, income, job, sex, notes, phone, "
                    "outcome)"),
    "also_excluded": ("  features: [age, income]\n  exclude: [income]\n",
                      "data: features[1]: column 'income' is also in data.exclude; a column is either a feature or "
                      "excluded, remove it from one of the two"),
    "target": ("  features: [age, outcome]\n",
               "data: features[1]: column 'outcome' is the target (data.target); the model cannot see its own label, "
               "remove it from data.features"),
    "sensitive": ("  features: [age, sex]\n",
                  "data: features[1]: column 'sex' is a sensitive feature, kept out of the model by default; remove it "
                  "from data.features, or set data.sensitive_as_features: true"),
    "twice": ("  features: [age, age]\n", "data: features[1]: column 'age' is listed twice; list each column once"),
    "id_column": ("  id_column: phone\n  features: [age, phone]\n",
                  "data: features[1]: column 'phone' is the id column (data.id_column), kept out of the model; "
                  "remove it from data.features"),
    "empty": ("  features: []\n",
              "data: features: the list is empty; name the columns the model sees, or remove data.features"),
}


@pytest.mark.parametrize("case", sorted(FEATURE_ERRORS))
def test_a_bad_feature_list_is_refused(monkeypatch: Any, capsys: Any, tmp_path: Path, case: str) -> None:
    data, message = FEATURE_ERRORS[case]
    config, _ = project(tmp_path, data=data)
    prefix = "" if case == "not_in_data" else f"{config}: "  # found when the data is read, not the config
    assert refused(monkeypatch, capsys, config) == f"error: {prefix}{message}"


def test_sensitive_as_a_feature_when_allowed(tmp_path: Path) -> None:
    config, _ = project(tmp_path, data="  features: [age, income, sex]\n  sensitive_as_features: true\n",
                        model="  estimator: hist_gradient_boosting\n")
    cfg = load_config(config)
    train, _ = modeling.split(cfg, load_training_frame(cfg))
    assert list(modeling.fit(cfg, train).feature_names_in_) == ["age", "income", "sex"]


def test_a_pipeline_that_fails_to_fit_is_exit_2(monkeypatch: Any, capsys: Any, tmp_path: Path) -> None:
    """No imputer before LogisticRegression, and `age` has gaps: the team's code, so exit 2 naming the fix."""
    source = ("from sklearn.linear_model import LogisticRegression\n\n"
              "def build():\n    return LogisticRegression()\n")
    module = f"team_model_{secrets.token_hex(4)}"
    config, _ = project(tmp_path, module=module, source=source, data="  features: [age, income]\n")
    code, out, err = run_train(monkeypatch, capsys, config, tmp_path / "home")
    assert code == 2, (out, err)
    assert err.strip().splitlines()[-1].startswith(
        f"error: model.factory: the model that \"{module}:build\" built failed to fit the training data: ValueError: "
        "Input X contains NaN.")
    assert err.strip().endswith("fix the factory (e.g. a SimpleImputer before a step that cannot take missing values)")


def test_config_hash_of_a_config_without_the_new_keys_is_unchanged(tmp_path: Path) -> None:
    """`factory` and `features` are left out of the dump when unset: older configs keep their hash."""
    config, _ = project(tmp_path, model="  estimator: logistic_regression\n", data="")
    cfg = load_config(config)
    dumped = cfg.model_dump(mode="json")
    assert "factory" not in dumped["model"] and "features" not in dumped["data"]
    assert dumped["model"]["estimator"] == "logistic_regression"


def test_two_projects_with_a_module_of_the_same_name(tmp_path: Path) -> None:
    """One process (a user's flow training two systems): each config gets its own folder's my_model.py."""
    from govflow.governance.registry.factories import build, record

    module = f"team_model_{secrets.token_hex(4)}"
    first, second = tmp_path / "first", tmp_path / "second"
    for folder, final in ((first, "LogisticRegression"), (second, "KNeighborsClassifier")):
        folder.mkdir()
        (folder / f"{module}.py").write_text(
            f"from sklearn.linear_model import LogisticRegression\nfrom sklearn.neighbors import KNeighborsClassifier\n\n"
            f"def build():\n    return {final}()\n", encoding="utf-8")
    for folder, final in ((first, "LogisticRegression"), (second, "KNeighborsClassifier"), (first, "LogisticRegression")):
        assert type(build(f"{module}:build", folder, {}, 0)).__name__ == final
        assert record(f"{module}:build", folder).source_hash == hashlib.sha256(
            (folder / f"{module}.py").read_bytes()).hexdigest()


def test_a_factory_from_an_installed_package(tmp_path: Path) -> None:
    """Found in the environment; its version is its distribution's. A class is a factory too."""
    import sklearn

    from govflow.governance.registry.factories import build, record

    assert type(build("sklearn.linear_model:LogisticRegression", tmp_path, {"C": 0.5}, 0)).__name__ == "LogisticRegression"
    assert record("sklearn.linear_model:LogisticRegression", tmp_path).module_version == f"scikit-learn {sklearn.__version__}"
