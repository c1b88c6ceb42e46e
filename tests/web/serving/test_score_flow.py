"""The batch scoring flow and `govflow trace prediction`, end to end through the real recorded flows:
train → gate → approvals → promotion → `score` → trace a scored row back to its evidence."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pandas as pd
import pytest
from typer.testing import CliRunner

from govflow.cli.main import app
from govflow.errors import DataError, InputError
from govflow.flows.gate import gate_flow
from govflow.flows.recording import set_ledger
from govflow.flows.score import score_flow
from govflow.flows.serving import NotInProduction
from govflow.flows.train import train_flow
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.verify import verify
from govflow.governance.registry import versions as registry
from govflow.governance.trail.predictions import trace_prediction
from tests.web.serving.helpers import CONFIG, DATA, counts, put_in_production, suspend


@pytest.fixture(scope="module", autouse=True)
def _prefect(prefect_harness: None) -> None:
    """Flows here run under the session's one Prefect harness (tests/conftest.py)."""


@pytest.fixture
def recorder(sqlite_ledger: Ledger) -> Iterator[Ledger]:
    set_ledger(sqlite_ledger)
    yield sqlite_ledger
    set_ledger(None)


def input_file(tmp_path: Path, rows: int = 40, **changes: object) -> Path:
    frame = pd.read_csv(DATA).head(rows)  # with the label column too: it is not used, and said so
    for column, value in changes.items():
        frame.loc[3, column] = value
    path = tmp_path / "applicants.csv"
    frame.to_csv(path, index=False)
    return path


def test_a_scored_row_traces_back_to_its_training_data_and_approvals(recorder: Ledger, tmp_path: Path) -> None:
    trained = train_flow(str(CONFIG))
    assert gate_flow(str(CONFIG), trained.version).outcome == "pass"
    for role in ("model_owner", "risk_officer"):
        registry.approve(recorder, trained.version, approver=f"{role} tester", role=role, reason="reviewed the evidence",
                         required_roles=["model_owner", "risk_officer"])
    registry.promote(recorder, trained.version, by="ops", required_roles=["model_owner", "risk_officer"])

    out = tmp_path / "scores.csv"
    outcome = score_flow(str(CONFIG), str(input_file(tmp_path)), str(out))
    assert (outcome.version, outcome.input_rows, outcome.logged) == ("credit-scoring:1", 40, 40)
    assert outcome.ignored_columns == ("creditability",)
    written = pd.read_csv(out)
    assert list(written.columns) == ["prediction_id", "decision", "favourable", "score", "score_of"] and len(written) == 40
    assert set(written["decision"]) <= {"good", "bad"} and set(written["score_of"]) == {"good"}
    assert (written["favourable"] == (written["decision"] == "good")).all()
    assert outcome.favourable == int(written["favourable"].sum())

    with recorder.read() as conn:
        trace = trace_prediction(conn, outcome.first_prediction_id or "")
    p = trace["prediction"]
    assert p["request_id"] == outcome.request_id and p["caller"].startswith("govflow run score (")
    assert p["scoring_run"]["name"] == "score" and p["scoring_run"]["state"] == "completed"
    assert trace["model_version"]["ref"] == "credit-scoring:1" and trace["model_version"]["in_production_when_served"]
    assert trace["gate_decision"]["outcome"] == "pass" and trace["gate_decision"]["run_id"]
    assert [a["approver"] for a in trace["approvals"]] == ["model_owner tester", "risk_officer tester"]
    assert trace["training_run"]["name"] == "train" and trace["training_run"]["state"] == "completed"
    trained_on = [d for d in trace["training_data"] if d["trained_on"]]
    assert len(trained_on) == 1 and trained_on[0]["name"] == "german_credit.csv (train split)"
    assert trained_on[0]["fingerprint"].startswith("fp2:") and trained_on[0]["row_count"] == 700
    summary = trace["checks_at_approval"]["summary"]
    assert set(summary) == {"validation", "performance", "fairness"} and summary["validation"]["failed"] == 0

    runner = CliRunner()  # the CLI sets GOVFLOW_HOME & co. for its process: restored after (patch.dict)
    home = ["--home", str(recorder.home)]
    with mock.patch.dict(os.environ):
        shown = runner.invoke(app, [*home, "trace", "prediction", outcome.first_prediction_id or ""])
        as_json = runner.invoke(app, [*home, "trace", "prediction", outcome.first_prediction_id or "", "--json"])
        batch = runner.invoke(app, [*home, "trace", "prediction", outcome.request_id])
    assert shown.exit_code == 0, shown.output
    assert "├─ scored by the score flow run" in shown.output and "· TRAINED ON" in shown.output
    assert json.loads(as_json.output) == trace
    assert isinstance(batch.exception, InputError)  # `main()` turns it into exit 2 and one line
    assert str(batch.exception).startswith(f"request id '{outcome.request_id}' names 40 predictions (a batch request)")
    assert verify(recorder).intact


def test_a_file_with_a_row_that_does_not_fit_is_refused_whole(recorder: Ledger, tmp_path: Path) -> None:
    put_in_production(recorder)
    before = counts(recorder)
    with pytest.raises(DataError) as caught:
        score_flow(str(CONFIG), str(input_file(tmp_path, age_in_years=None)))
    assert str(caught.value) == ("applicants.csv: rows do not fit the input schema of credit-scoring:1; nothing was "
                                 "scored: row 3: sensitive.age_in_years: must not be null (the model was trained "
                                 "without missing values here)")
    assert counts(recorder)[:2] == before[:2]


def test_no_version_in_production_scores_nothing(recorder: Ledger, tmp_path: Path) -> None:
    suspend(recorder, put_in_production(recorder), "incident 3")
    with pytest.raises(NotInProduction) as caught:
        score_flow(str(CONFIG), str(input_file(tmp_path)))
    assert "credit-scoring:1 was suspended at " in str(caught.value) and str(caught.value).endswith(": incident 3")
    assert counts(recorder)[0] == 0


def test_the_cli_command(recorder: Ledger, tmp_path: Path) -> None:
    put_in_production(recorder)
    with mock.patch.dict(os.environ):
        result = CliRunner().invoke(app, ["--home", str(recorder.home), "run", "score", "-c", str(CONFIG),
                                          "--input", str(input_file(tmp_path, rows=12))])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"scored 12 rows of {tmp_path / 'applicants.csv'} with credit-scoring:1: ")
    assert " not; logged 12 predictions in audit entry " in lines[0]
    assert lines[1] == "columns not used: creditability"
    assert lines[2].startswith("trace a row: govflow trace prediction ")
