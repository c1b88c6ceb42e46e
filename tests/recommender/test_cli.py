"""`govflow data fetch movielens-100k` (from a wheel built here: no network in tests) and the
`govflow recommender` commands."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from govflow.cli.data import BAD_HASH, MEMBERS, WHEEL_SHA256, extract_movielens
from govflow.cli.main import app
from govflow.governance.ledger.engine import Ledger
from tests.recommender.synthetic import write_movielens


def fake_wheel(tmp_path: Path, *, complete: bool = True) -> Path:
    """A zip laid out like the recbole wheel, holding the synthetic ratings."""
    source = write_movielens(tmp_path / "source")
    wheel = tmp_path / "recbole-1.2.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("recbole/__init__.py", "")
        for member, name in MEMBERS.items():
            if complete or not name.endswith(".item"):
                archive.write(source / name, member)
    return wheel


def test_fetch_from_a_wheel(tmp_path: Path) -> None:
    wheel = fake_wheel(tmp_path)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    home = tmp_path / "home"
    result = CliRunner().invoke(app, ["--home", str(home), "data", "fetch", "movielens-100k", "--wheel", str(wheel),
                                      "--sha256", digest])
    assert result.exit_code == 0, result.output
    folder = home / "data" / "movielens-100k"
    assert result.output.splitlines()[0] == (f"MovieLens 100k in {folder}: ml-100k.inter 880 rows, ml-100k.user 80 rows, "
                                             f"ml-100k.item 40 rows (wheel sha256 {digest[:16]}...)")
    assert sorted(p.name for p in folder.iterdir()) == ["SOURCE.txt", "govflow.yaml", "ml-100k.inter", "ml-100k.item",
                                                        "ml-100k.user"]
    assert (folder / "ml-100k.inter").read_bytes() == (tmp_path / "source" / "ml-100k.inter").read_bytes()
    assert "forbids\nredistribution" in (folder / "SOURCE.txt").read_text()
    from govflow.flows.recommender_flow import load_recommender_config

    config = load_recommender_config(folder / "govflow.yaml")  # the starter config is valid and finds the files
    assert config.path("inter") == folder / "ml-100k.inter" and config.system.name == "movielens-recommender"


def test_a_wheel_that_is_not_the_pinned_one_is_refused(tmp_path: Path) -> None:
    wheel = fake_wheel(tmp_path)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    result = CliRunner().invoke(app, ["--home", str(tmp_path / "home"), "data", "fetch", "movielens-100k",
                                      "--wheel", str(wheel)])
    assert result.exit_code != 0
    assert isinstance(result.exception, Exception)
    assert str(result.exception) == BAD_HASH.format(wheel=wheel, found=digest, expected=WHEEL_SHA256)
    assert not (tmp_path / "home" / "data" / "movielens-100k" / "ml-100k.inter").exists()


def test_bad_wheels_and_names(tmp_path: Path) -> None:
    partial = fake_wheel(tmp_path, complete=False)
    with pytest.raises(Exception, match="holds no recbole/dataset_example/ml-100k/ml-100k.item: not the recbole wheel"):
        extract_movielens(partial, tmp_path / "out", expected_sha256=None)
    not_zip = tmp_path / "x.whl"
    not_zip.write_text("hello")
    with pytest.raises(Exception, match="is not a wheel"):
        extract_movielens(not_zip, tmp_path / "out", expected_sha256=None)
    result = CliRunner().invoke(app, ["--home", str(tmp_path / "home"), "data", "fetch", "movielens-1m"])
    assert str(result.exception) == "unknown data set 'movielens-1m'; available: movielens-100k"


@pytest.mark.slow
def test_train_and_recommend_commands(tmp_path: Path, config_file: Path, prefect_harness: None) -> None:
    home = tmp_path / "home"
    runner = CliRunner()
    trained = runner.invoke(app, ["--home", str(home), "recommender", "train", "-c", str(config_file)])
    assert trained.exit_code == 0, trained.output
    assert "registered movie-recs:1 as candidate: hit rate at 5 " in trained.output and "gate PASS" in trained.output
    for role in ("model_owner", "risk_officer"):
        approved = runner.invoke(app, ["--home", str(home), "approve", "movie-recs:1", "--as", f"Ann {role}", "--role", role,
                                       "--reason", "fine"])
        assert approved.exit_code == 0, approved.output
    assert runner.invoke(app, ["--home", str(home), "promote", "movie-recs:1"]).exit_code == 0
    answered = runner.invoke(app, ["--home", str(home), "recommender", "recommend", "movie-recs", "--user", "7",
                                   "--sensitive", "gender=F", "--sensitive", "age=31"])
    assert answered.exit_code == 0, answered.output
    body = json.loads(answered.output)
    assert body["model_version"] == "movie-recs:1" and len(body["predictions"][0]["items"]) == 5
    ledger = Ledger.open(home=home)
    try:
        from sqlalchemy import select

        from govflow.governance.ledger.schema import Prediction
        with ledger.read() as conn:
            row = conn.execute(select(Prediction.output_json, Prediction.caller)).one()
        assert json.loads(row[0])["items"] == body["predictions"][0]["items"] and row[1] == "cli"
    finally:
        ledger.close()
