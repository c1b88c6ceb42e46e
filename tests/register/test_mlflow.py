"""`govflow register --from-mlflow models:/NAME/VERSION` against a local MLflow registry (a file store).

Skipped only where MLflow is not installed (`make install` installs it: the `govflow[mlflow]` extra).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import Artifact, ModelVersion, StageChange
from govflow.governance.registry import versions as registry

from . import models
from .helpers import NAME, Files, cli

mlflow = pytest.importorskip("mlflow")
mlflow_sklearn = pytest.importorskip("mlflow.sklearn")


@pytest.fixture(scope="module")
def store(files: Files, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A local MLflow registry with version 1 (skops) and 2 (pickle) of `credit-lr`, params logged."""
    uri = (tmp_path_factory.mktemp("mlflow") / "mlruns").as_uri()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps its file store in maintenance mode
        for fmt in ("skops", "pickle"):
            with mlflow.start_run():
                mlflow.log_params({"C": 1.0, "max_iter": 1000, "format": fmt})
                mlflow_sklearn.log_model(models.fitted(files.train), name="model", registered_model_name="credit-lr",
                                         serialization_format=fmt, pip_requirements=["scikit-learn"])
    return uri


def test_model_version_is_registered_with_its_logged_parameters(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], files: Files, store: str,
        tmp_path: Path) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    home = tmp_path / "home"
    code, out, err = cli(monkeypatch, capsys, "--home", home, "register", NAME, "--from-mlflow", "models:/credit-lr/1",
                         "--train", files.train, "--test", files.test, "-c", files.config, "--as", "Ada Analyst")
    assert code == 0, (out, err)
    assert ("registered credit-scoring:1 as candidate from models:/credit-lr/1 (model.skops), trained outside govflow "
            "(by Ada Analyst; registered by Ada Analyst)") in out
    ledger = Ledger.open(home=home)
    with ledger.read() as conn:
        mv = conn.execute(select(ModelVersion)).mappings().one()
        reason = conn.execute(select(StageChange.reason).where(StageChange.model_version_id == mv["id"])).scalar_one()
    stored = registry.attachment(ledger, mv["id"], "model_file") or b""
    ledger.close()
    hyper = json.loads(mv["hyperparams_json"])
    assert hyper["mlflow"]["uri"] == "models:/credit-lr/1" and hyper["mlflow"]["tracking_uri"] == store
    assert hyper["mlflow"]["params"] == {"C": "1.0", "format": "skops", "max_iter": "1000"}
    assert len(hyper["mlflow"]["run_id"]) == 32
    assert hyper["model_file"] == {"name": "model.skops", "format": "skops", "sha256": hashlib.sha256(stored).hexdigest()}
    assert reason == "registered from MLflow models:/credit-lr/1 (model.skops), a model trained outside govflow by Ada Analyst"

    code, out, err = cli(monkeypatch, capsys, "--home", home, "run", "gate", "-c", files.config, "--version", "1")
    assert code == 0 and "gate PASS for credit-scoring:1" in out, (out, err)
    ledger = Ledger.open(home=home)
    with ledger.read() as conn:
        card = conn.execute(select(Artifact.content_hash).where(
            Artifact.model_version_id == mv["id"], Artifact.kind == "model_card", Artifact.name.like("%.md"))).scalar_one()
    text = ledger.artifacts.read(card).decode("utf-8")
    ledger.close()
    run_id = hyper["mlflow"]["run_id"]
    assert (f"| **Registered by** | Ada Analyst (OS user `{registry.os_user()}`) from MLflow `models:/credit-lr/1` "
            f"(run `{run_id}`, tracking `{store}`, logged parameters "
            '`{"C": "1.0", "format": "skops", "max_iter": "1000"}`), file `model.skops` (skops, sha256 ') in text


@pytest.mark.parametrize(("uri", "more", "expected"), [
    ("models:/credit-lr/2", [], "models:/credit-lr/2 (model.pkl) is a pickle: loading it executes code stored in the file; if you trust "
                                "where it came from, pass --trust-pickle"),
    ("models:/credit-lr/9", [], "cannot fetch models:/credit-lr/9 from the MLflow registry at file://"),
    ("models:/credit-lr/latest", [], "--from-mlflow takes models:/NAME/VERSION with a version number"),
    ("models:/credit-lr/1", ["--model", "model.skops"], "give the model either as --model FILE or as --from-mlflow"),
])
def test_bad_mlflow_input_is_refused_before_the_ledger(
        uri: str, more: list[str], expected: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], files: Files, store: str, tmp_path: Path) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    home = tmp_path / "home"
    code, out, err = cli(monkeypatch, capsys, "--home", home, "register", NAME, "--from-mlflow", uri, *more,
                         "--train", files.train, "--test", files.test, "-c", files.config)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], err
    assert not (home / "ledger.db").exists()
