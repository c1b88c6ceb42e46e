"""The steps of examples/own-service/README.md, as a user runs them: the team's own training, then
`govflow register`, `run gate`, `approve` twice and `promote` (real CLI processes), then
`uvicorn app:app` in the example's folder; a request, its trace, verify."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from govflow.governance.ledger.engine import Ledger
from tests.web.instrument.helpers import DATA, EXAMPLE, own_service
from tests.web.serving.helpers import GOVFLOW, records


def test_the_readme_steps(tmp_path: Path) -> None:
    folder = tmp_path / "own-service"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("model.joblib", "*.csv", ".govflow", "__pycache__"))
    home = folder / ".govflow"
    env = {**os.environ, "GOVFLOW_HOME": str(home)}
    env.pop("GOVFLOW_DB_URL", None)

    def run(*command: str) -> str:
        done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{command}: {done.stdout[-1500:]}{done.stderr[-1500:]}"
        return done.stdout

    run(sys.executable, "train_model.py", str(DATA), "model.joblib")
    out = run(GOVFLOW, "register", "credit-scoring", "--model", "model.joblib", "--train", "train.csv", "--test",
              "test.csv", "-c", "govflow.yaml", "--trust-pickle", "--trained-by", "Credit modelling team")
    assert "registered credit-scoring:1 as candidate from model.joblib, trained outside govflow" in out
    assert "gate pass" in run(GOVFLOW, "run", "gate", "-c", "govflow.yaml", "--version", "1").lower()
    run(GOVFLOW, "approve", "credit-scoring:1", "--as", "Mo Owner", "--role", "model_owner", "--reason", "held-out AUC fine")
    run(GOVFLOW, "approve", "credit-scoring:1", "--as", "Ria Risk", "--role", "risk_officer", "--reason", "demo policy")
    assert "credit-scoring:1 is now in production" in run(GOVFLOW, "promote", "credit-scoring:1")

    ledger = Ledger.open(home=home)
    try:
        with own_service(ledger, folder / "model.joblib", folder=folder) as (base, _):
            answer = httpx.post(f"{base}/score", json=records(1)[0], headers={"X-Request-ID": "demo-42"}, timeout=30)
    finally:
        ledger.close()
    assert answer.status_code == 200 and answer.headers["x-model-version"] == "credit-scoring:1"
    assert set(answer.json()["predictions"][0]) == {"decision", "score"}
    traced = run(GOVFLOW, "trace", "prediction", "demo-42")
    assert answer.headers["x-prediction-id"] in traced and "training run register" in traced
    assert "ledger intact" in run(GOVFLOW, "verify")
