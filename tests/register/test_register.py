"""`govflow register`: a model fitted outside govflow is a candidate like a trained one, or is refused (exit 2).

Models are fitted here, saved with skops and joblib, and go through the real command line in this
process (`govflow.cli.main.main`), the real register and gate flows, and a real ledger.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import skops.io as sio
from sklearn.pipeline import Pipeline
from sqlalchemy import select

from govflow.flows import register as reg
from govflow.governance.config import load_config
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.fingerprint import fingerprint
from govflow.governance.ledger.schema import Artifact, Edge, ModelVersion, Run, StageChange
from govflow.governance.registry import versions as registry

from . import models
from .helpers import NAME, Files, cli


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_skops_model_is_registered_gated_traced_and_documented(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], files: Files, tmp_path: Path) -> None:
    home = tmp_path / "home"
    code, out, err = cli(monkeypatch, capsys, *files.register(home, files.skops, "--as", "Ada Analyst",
                                                              "--trained-by", "Risk modelling team"))
    assert code == 0, err
    assert ("registered credit-scoring:1 as candidate from model.skops, trained outside govflow "
            "(by Risk modelling team; registered by Ada Analyst)") in out
    assert f"next: govflow run gate -c {files.config} --version 1" in out

    code, out, err = cli(monkeypatch, capsys, "--home", home, "run", "gate", "-c", files.config, "--version", "1")
    assert code == 0, (out, err)
    assert "gate PASS for credit-scoring:1" in out

    ledger = Ledger.open(home=home)
    with ledger.read() as conn:
        mv = conn.execute(select(ModelVersion)).mappings().one()
        stage = conn.execute(select(StageChange).where(StageChange.model_version_id == mv["id"])).mappings().one()
        root = conn.execute(select(Run).where(Run.id == mv["training_run_id"])).mappings().one()
        loader = conn.execute(select(Run.id).where(Run.root_run_id == root["id"], Run.name == "load_given_data")).scalar_one()
        file_edges = {e.role: e.fingerprint for e in conn.execute(
            select(Edge).where(Edge.run_id == loader, Edge.entity_kind == "file"))}
        data_edges = conn.execute(select(Edge).where(Edge.run_id == loader, Edge.entity_kind == "dataset")).all()
        gate_eval = conn.execute(select(Run.id).where(Run.name == "evaluate_model", Run.root_run_id != root["id"])).scalar_one()
        gate_input = conn.execute(select(Edge.fingerprint).where(Edge.run_id == gate_eval, Edge.role == "frame")).scalar_one()
        card = conn.execute(select(Artifact.content_hash).where(
            Artifact.model_version_id == mv["id"], Artifact.kind == "model_card", Artifact.name.like("%.md"))).scalar_one()
    hyper = json.loads(mv["hyperparams_json"])
    assert root["name"] == "register"
    assert hyper["trained_outside_govflow"] is True
    assert (hyper["trained_by"], hyper["registered_by"]) == ("Risk modelling team", "Ada Analyst")
    assert hyper["model_file"] == {"name": "model.skops", "format": "skops", "sha256": sha256(files.skops)}
    assert hyper["estimator"] == "sklearn.pipeline.Pipeline"
    assert (stage["stage"], stage["by"]) == ("candidate", "Ada Analyst")
    assert stage["reason"] == "registered from model.skops, a model trained outside govflow by Risk modelling team"
    assert file_edges == {"train_file": fingerprint(files.train)[1], "test_file": fingerprint(files.test)[1]}
    assert len(data_edges) == 2  # the training and held-out data sets, as dataset versions

    # The gate judged the held-out file: the stored copy is that file, and the gate's evaluation read it.
    holdout = reg.steps.read_parquet_bytes(registry.attachment(ledger, mv["id"], "holdout_data") or b"", "holdout")
    pd.testing.assert_frame_equal(holdout, pd.read_csv(files.test), check_dtype=False)
    assert gate_input == fingerprint(holdout)[1]
    assert registry.attachment(ledger, mv["id"], "model_file") == files.skops.read_bytes()
    reloaded = reg.modeling.load_model(ledger.artifacts.read(mv["artifact_hash"]))
    assert isinstance(reloaded, Pipeline)

    text = ledger.artifacts.read(card).decode("utf-8")
    assert "| **Trained** | outside govflow, by Risk modelling team |" in text
    assert f"| **Registered by** | Ada Analyst (OS user `{registry.os_user()}`) from `model.skops` (skops, sha256 `{sha256(files.skops)}`) |" in text
    assert "| **Model type** | `sklearn.pipeline.Pipeline` |" in text
    assert "| **Registration run** | `runs/" + root["id"] in text
    assert "train.csv (training data)" in text and "test.csv (held-out data)" in text
    ledger.close()

    code, out, err = cli(monkeypatch, capsys, "--home", home, "trace", "model", f"{NAME}:1")
    assert code == 0, err
    assert "registered (trained outside govflow) in flow register · completed" in out
    assert "by Ada Analyst · registered from model.skops, a model trained outside govflow by Risk modelling team" in out
    assert f"model_file model.skops sha256:{sha256(files.skops)[:12]}" in out
    assert "gate pass" in out

    # Approved and promoted like a trained version, it answers: scoring uses the version in production.
    for person, role in (("Dana Meyer", "model_owner"), ("Ravi Patel", "risk_officer")):
        code, out, err = cli(monkeypatch, capsys, "--home", home, "approve", f"{NAME}:1", "--as", person,
                             "--role", role, "--reason", "reviewed")
        assert code == 0, err
    code, out, err = cli(monkeypatch, capsys, "--home", home, "promote", f"{NAME}:1")
    assert code == 0 and f"{NAME}:1 is now in production" in out, (out, err)
    code, out, err = cli(monkeypatch, capsys, "--home", home, "run", "score", "-c", files.config, "--input", files.test)
    assert code == 0, err
    assert f"scored 300 rows of {files.test} with {NAME}:1" in out
    code, out, err = cli(monkeypatch, capsys, "--home", home, "run", "monitor", "-c", files.config, "--no-incident",
                         "--json")
    assert code in (0, 1), err  # 1 is an alert; either way the window was judged against the stored reference
    window = json.loads(out)["reports"][0]
    assert (window["version"], window["rows"]) == (f"{NAME}:1", 300)
    share = next(r for s in window["suites"] if s["kind"] == "drift" for r in s["results"] if r["name"] == "drifted_column_share")
    assert share["details"]["columns"] == 18  # the model's features, against the training data registered with it
    code, out, err = cli(monkeypatch, capsys, "--home", home, "verify")
    assert code == 0 and "ledger intact" in out, (out, err)


def test_data_failing_the_written_contract_blocks_the_registration(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], files: Files, tmp_path: Path) -> None:
    """As in `run train`: a failed validation is a compliance failure (exit 1), recorded, and no version."""
    from govflow.checks.contract import infer_contract

    contract = infer_contract(pd.read_csv(files.train)).to_dict()
    contract["columns"]["credit_amount"]["max"] = 10000  # both files have larger amounts
    contract.pop("hash", None)  # a new contract, not one changed after it was recorded
    config = tmp_path / "contract.govflow.yaml"
    config.write_text(files.config.read_text(encoding="utf-8").replace(
        "data:\n", f"data:\n  contract: {json.dumps(contract)}\n", 1), encoding="utf-8")
    home = tmp_path / "home"
    code, out, err = cli(monkeypatch, capsys, "--home", home, "register", NAME, "--model", files.skops,
                         "--train", files.train, "--test", files.test, "-c", config)
    assert code == 1, (out, err)
    assert f"error: {files.train} failed validation against the data contract: credit_amount: " in err
    ledger = Ledger.open(home=home)
    with ledger.read() as conn:
        assert conn.execute(select(ModelVersion)).first() is None
        assert conn.execute(select(Run.name).where(Run.parent_run_id.is_(None))).scalars().all() == ["register"]
    ledger.close()


def test_joblib_model_needs_trust_pickle(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                         files: Files, tmp_path: Path, pg_url: str) -> None:
    home = tmp_path / "home"
    code, out, err = cli(monkeypatch, capsys, "--db", pg_url, *files.register(home, files.joblib))
    assert code == 2, (out, err)
    assert err.strip() == (f"error: {files.joblib} is a pickle: loading it executes code stored in the file; if you "
                           "trust where it came from, pass --trust-pickle (or save the model with skops, .skops, which "
                           "loads without running code)")
    code, out, err = cli(monkeypatch, capsys, "--db", pg_url, *files.register(home, files.joblib, "--trust-pickle", "--json"))
    assert code == 0, err
    who = registry.os_user()
    shown = json.loads(out)
    assert {k: shown[k] for k in ("version", "source", "registered_by", "trained_by", "trained_outside_govflow")} == {
        "version": "credit-scoring:1", "source": "model.joblib", "registered_by": who, "trained_by": who,
        "trained_outside_govflow": True}
    ledger = Ledger.open(pg_url, home=home)
    with ledger.read() as conn:
        mv = conn.execute(select(ModelVersion)).mappings().one()
    ledger.close()
    hyper = json.loads(mv["hyperparams_json"])
    assert hyper["model_file"] == {"name": "model.joblib", "format": "pickle", "sha256": sha256(files.joblib)}
    assert (hyper["registered_by"], hyper["trained_by"]) == (who, who)


def _dump(folder: Path, name: str, obj: Any) -> Path:
    path = folder / name
    sio.dump(obj, path)
    return path


def _bad_case(case: str, files: Files, folder: Path) -> tuple[list[str | Path], str]:
    """The arguments of one bad registration, and the error line it must give."""
    def args(model: Path = files.skops, train: Path = files.train, test: Path = files.test,
             config: Path = files.config, name: str = NAME) -> list[str | Path]:
        return ["--home", folder / "home", "register", name, "--model", model, "--train", train, "--test", test, "-c", config]

    if case == "missing model":
        return args(model=folder / "nowhere.skops"), f"model file {folder / 'nowhere.skops'} not found"
    if case == "missing data":
        return args(train=folder / "nowhere.csv"), f"data file {folder / 'nowhere.csv'} not found"
    if case == "unsupported":
        (folder / "model.onnx").write_bytes(b"onnx")
        return args(model=folder / "model.onnx"), "unsupported file type '.onnx'; save the model with skops"
    if case == "unreadable":
        (folder / "broken.skops").write_bytes(b"not a zip file")
        return args(model=folder / "broken.skops"), f"cannot read {folder / 'broken.skops'} as a skops file: BadZipFile"
    if case == "wrong kind":
        return (args(model=_dump(folder, "dict.skops", {"weights": [1, 2]})),
                "holds a builtins.dict, not a classifier with predict_proba; govflow needs a fitted binary classifier")
    if case == "unfitted":
        x = models.features(pd.read_csv(files.train))
        return (args(model=_dump(folder, "unfitted.skops", models.pipeline(x))),
                "holds a sklearn.pipeline.Pipeline that is not fitted; fit it before saving it")
    if case == "features":
        model = models.fitted(files.train, drop=["personal_status_and_sex", "telephone"])
        return (args(model=_dump(folder, "other.skops", model)),
                "the model's input columns do not match the config's features: the config gives it telephone, which "
                "it was not fitted on; it was fitted on age_in_years, which the config does not give it")
    if case == "positive first":
        config = folder / "bad-favourable.govflow.yaml"
        config.write_text(files.config.read_text(encoding="utf-8").replace("positive_label: good", "positive_label: bad"))
        return (args(config=config), "the model's classes are 'bad', 'good', so its predict_proba gives the "
                "probability of 'good' last, but govflow reads the last as the favourable outcome")
    if case == "data not as configured":
        test = folder / "no-target.csv"
        pd.read_csv(files.test).drop(columns=[models.TARGET]).to_csv(test, index=False)
        return args(test=test), f"data.target: column 'creditability' is not in {test}"
    if case == "three classes":
        train = folder / "three.csv"
        frame = pd.read_csv(files.train)
        frame.loc[:4, models.TARGET] = "unknown"
        frame.to_csv(train, index=False)
        return args(train=train), f"{train}: data.target: column 'creditability' has 3 classes (bad, good, unknown)"
    if case == "changed contract":
        from govflow.checks.contract import infer_contract

        contract = infer_contract(pd.read_csv(files.train)).to_dict()
        contract["columns"]["credit_amount"]["max"] = 10000  # edited, its recorded hash kept
        config = folder / "edited.govflow.yaml"
        config.write_text(files.config.read_text(encoding="utf-8").replace(
            "data:\n", f"data:\n  contract: {json.dumps(contract)}\n", 1), encoding="utf-8")
        return args(config=config), "data.contract: the contract's hash"
    if case == "wrong system":
        return args(name="other-system"), f"other-system is not the system of {files.config} (system.name: credit-scoring)"
    raise AssertionError(case)


BAD = ["missing model", "missing data", "unsupported", "unreadable", "wrong kind", "unfitted", "features",
       "positive first", "data not as configured", "three classes", "changed contract", "wrong system"]


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_refused_before_the_ledger(case: str, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str], files: Files, tmp_path: Path) -> None:
    args, expected = _bad_case(case, files, tmp_path)
    code, out, err = cli(monkeypatch, capsys, *args)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert expected in lines[0], lines[0]
    assert not (tmp_path / "home" / "ledger.db").exists()


def test_untrusted_skops_types_are_named_with_the_flag_that_trusts_them(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], files: Files, tmp_path: Path) -> None:
    own = _dump(tmp_path, "own.skops", models.fitted(files.train, own_step=True))
    args: list[str | Path] = ["--home", tmp_path / "home", "register", NAME, "--model", own, "--train", files.train, "--test", files.test,
            "-c", files.config]
    code, out, err = cli(monkeypatch, capsys, *args)
    assert code == 2, (out, err)
    assert err.strip() == (f"error: {own} holds types that skops does not trust by default: tests.register.models.Doubler; "
                           "loading them can run their code. If you trust them, pass --trust tests.register.models.Doubler")
    # Trusted by name, the same file passes every check `register` makes before it records.
    reg.check_inputs(load_config(files.config), own, files.train, files.test, ["tests.register.models.Doubler"], False)
