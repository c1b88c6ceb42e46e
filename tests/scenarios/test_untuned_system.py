"""Issue #15's "Done when": a system nobody tuned for govflow (UCI Adult census income, its own
scikit-learn pipeline) taken through the whole life with the public interfaces only: train with
``model.factory`` and ``data.features``, gate under the documented default policy (it blocks, and
why), a recorded and explained policy change re-gated, two named approvals, promotion, the team's
own FastAPI service instrumented by ``govflow.web.instrument``, predictions, late outcomes,
monitoring, the auditor's bundle and its own verifier, and ``govflow verify``.

Figures on this sample (held-out 30% of the 4,000 training rows): ROC AUC 0.81; under the default
policy the gate blocks on demographic parity (sex 0.137, race 0.175), disparate impact (sex 0.494,
race 0.386) and equalized odds on race (0.128: the true-positive rate of Black people, 0.50, is
measured on about 14 positives). The risk officer's policy (equalized odds the criterion, bound 0.15;
parity reported, not bounded) passes the same version; served to 600 people of the census test file
with their true incomes, monitoring finds ROC AUC 0.910 and alerts on equalized odds on race (0.306:
Black TPR 0.375 on 62 people), opening an incident, as the policy said it would be re-judged.
"""

from __future__ import annotations

import csv
import os
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from govflow.governance.ledger.engine import Ledger
from tests.reports.bundle.test_bundle import PLAIN_PYTHON
from tests.web.instrument.helpers import own_service
from tests.web.serving.helpers import GOVFLOW

DATA = Path(__file__).resolve().parents[2] / "data" / "adult"
SYSTEM = "adult-income"
SENSITIVE = ("sex", "race")
FEATURES = ["age", "workclass", "education", "education_num", "marital_status", "occupation", "relationship",
            "capital_gain", "capital_loss", "hours_per_week", "native_country"]
NUMERIC = {"age", "education_num", "capital_gain", "capital_loss", "hours_per_week"}

FACTORY = '''
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder

NUMERIC = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
CATEGORICAL = ["workclass", "education", "marital_status", "occupation", "relationship", "native_country"]


def build(seed: int = 0) -> Pipeline:
    prep = ColumnTransformer([
        ("numeric", SimpleImputer(strategy="median"), NUMERIC),
        ("categorical", make_pipeline(SimpleImputer(strategy="most_frequent"),
                                      OneHotEncoder(handle_unknown="ignore", sparse_output=False)), CATEGORICAL),
    ])
    return Pipeline([("prep", prep), ("model", HistGradientBoostingClassifier(random_state=seed))])
'''

CONFIG = f'''
system:
  name: {SYSTEM}
  intended_purpose: Estimate whether a person's yearly income exceeds 50,000 USD (census research pilot)
  annex_iii: null
data:
  train: {DATA / "adult_train_sample.csv"}
  target: income
  positive_label: ">50K"
  sensitive_features: [sex, race]
  features: [{", ".join(FEATURES)}]        # fnlwgt (a census sampling weight) is left out
  origin: UCI Adult (Becker & Kohavi 1996), UCI ML Repository, CC BY 4.0, doi:10.24432/C5XW20
model:
  factory: "adult_model:build"
'''

# Not tuning: a policy decision, written down in the config (stored with the gate's decision by its
# hash) and given again as the risk officer's recorded reason.
POLICY = '''
# Policy decided by the risk officer after the default policy blocked adult-income:1 (see the gate):
# - demographic parity and disparate impact are measured and reported, not bounded: the label is the
#   real income, whose base rate differs by sex (~31% vs ~11% here), so equal selection rates would
#   mean a less accurate model for everyone, not a fairer one for this research use.
# - equalized odds is the criterion (equal error rates), bound 0.15 instead of 0.1: the only gap
#   above 0.1 is the true-positive rate of Black people, measured on ~14 positives (95% interval
#   0.17-0.78). Re-judged by monitoring with outcomes; any alert opens an incident.
policy:
  fairness: {demographic_parity_difference_max: 1.0, equalized_odds_difference_max: 0.15,
             disparate_impact_ratio_min: 0.0, min_group_size: 30}
  performance: {roc_auc_min: 0.7}
  approvals: [model_owner, risk_officer]
'''

SERVICE = f'''
from typing import Any

import pandas as pd
from fastapi import FastAPI, Request

from govflow.flows.serving import load_production
from govflow.governance.ledger.engine import Ledger
from govflow.web import instrument

FEATURES = {FEATURES!r}


def create_app() -> FastAPI:
    # The team's service answers with the model govflow trained and put in production.
    ledger = Ledger.open()
    model = load_production(ledger, "{SYSTEM}").model
    ledger.close()
    app = FastAPI(title="income estimate (our own service)")

    @app.post("/estimate")
    async def estimate(request: Request) -> dict[str, Any]:
        body = await request.json()
        frame = pd.DataFrame([{{c: r.get(c) for c in FEATURES}} for r in body["people"]], columns=FEATURES)
        scores = model.predict_proba(frame)[:, 1]
        return {{"estimates": [{{"over_50k": bool(p >= 0.5), "score": round(float(p), 6)}} for p in scores]}}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {{"status": "ok"}}

    return app


# Monitoring judges the logged outputs as govflow serve writes them ({{"decision", "score"}}), so the
# team's own answer shape is mapped to that (logged as {{"over_50k", "score"}}, `run monitor` with
# outcomes stopped with an internal error, exit 3: int() of a missing decision).
app = instrument(create_app(), system="{SYSTEM}", routes=["/estimate"], inputs=lambda body: body["people"],
                 outputs=lambda answer, n: [{{"decision": int(e["over_50k"]), "score": e["score"]}}
                                            for e in answer["estimates"]])
'''


def people(rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Request records from CSV rows: the model's features (empty = missing), sensitive ones apart."""
    out = []
    for row in rows:
        record: dict[str, Any] = {c: (int(row[c]) if c in NUMERIC else row[c] or None) for c in FEATURES}
        record["sensitive"] = {c: row[c] for c in SENSITIVE}
        out.append(record)
    return out


def test_an_untuned_system_through_its_whole_life(tmp_path: Path) -> None:
    (tmp_path / "adult_model.py").write_text(FACTORY)
    config = tmp_path / "govflow.yaml"
    config.write_text(CONFIG)
    home = tmp_path / ".govflow"
    env = {**os.environ, "GOVFLOW_HOME": str(home), "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("GOVFLOW_DB_URL", None)
    govflow = cli_in(tmp_path, env)

    train_gate_and_promote(govflow, config)
    rows, ids = serve_held_out_people(tmp_path, home)
    assert len(ids) == len(set(ids)) == 600
    assert f"{SYSTEM}:1" in govflow("trace", "prediction", ids[0])
    attach_outcomes_and_monitor(govflow, tmp_path, config, rows, ids)
    export_and_verify_the_bundle(govflow, tmp_path)


def cli_in(tmp_path: Path, env: dict[str, str]) -> Callable[..., str]:
    """`govflow ARGS` run in the system's folder: its output, once the exit code is the one expected."""

    def govflow(*args: str, expect: int = 0) -> str:
        done = subprocess.run([GOVFLOW, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == expect, f"{args}: exit {done.returncode}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        return done.stdout + done.stderr

    return govflow


def train_gate_and_promote(govflow: Callable[..., str], config: Path) -> None:
    # Train and gate under the documented default policy, untouched.
    trained = govflow("run", "train", "-c", str(config))
    assert f"registered {SYSTEM}:1 as candidate (validation passed, held-out performance passed)" in trained
    assert "built by factory adult_model:build" in govflow("trace", "model", f"{SYSTEM}:1")
    blocked = govflow("run", "gate", "-c", str(config), "--version", "1", expect=1)
    assert f"gate BLOCK for {SYSTEM}:1" in blocked
    for reason in ("demographic_parity_difference on sex = 0.137 (bound 0.1)",
                   "disparate_impact_ratio on race = 0.386 (bound 0.8)",
                   "equalized_odds_difference on race = 0.128 (bound 0.1)"):
        assert f"fairness: {reason}" in blocked
    refused = govflow("promote", f"{SYSTEM}:1", expect=1)
    assert f"cannot promote {SYSTEM}:1: missing: the gate blocked {SYSTEM}:1" in refused

    # The risk officer's policy, recorded in the config and re-judged by the gate on the same model.
    # The edited file alone does not change the policy in force (#16): the gate stops until she signs it.
    config.write_text(CONFIG + POLICY)
    stopped = govflow("run", "gate", "-c", str(config), "--version", "1", expect=1)
    assert f"differs from the policy in force for {SYSTEM}: " in stopped
    govflow("policy", "approve", "-c", str(config), "--as", "Ria Risk", "--role", "risk_officer", "--reason",
            "equalized odds is the criterion (bound 0.15); parity reported, not bounded; re-judged by monitoring")
    passed = govflow("run", "gate", "-c", str(config), "--version", "1")
    assert f"gate PASS for {SYSTEM}:1" in passed
    govflow("approve", f"{SYSTEM}:1", "--as", "Mo Owner", "--role", "model_owner", "--reason", "held-out ROC AUC 0.81")
    govflow("approve", f"{SYSTEM}:1", "--as", "Ria Risk", "--role", "risk_officer", "--reason",
            "policy in govflow.yaml: equalized odds is the criterion (bound 0.15, race gap measured on ~14 "
            "positives), parity reported not bounded; re-judged by monitoring")
    assert f"{SYSTEM}:1 is now in production" in govflow("promote", f"{SYSTEM}:1")


def serve_held_out_people(tmp_path: Path, home: Path) -> tuple[list[dict[str, str]], list[str]]:
    """The census test file's people, and the prediction ids the team's own service answered them with."""
    service = tmp_path / "service"
    service.mkdir()
    (service / "app.py").write_text(SERVICE)
    with open(DATA / "adult_test_sample.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[:600]
    ids: list[str] = []
    ledger = Ledger.open(home=home)
    try:
        with own_service(ledger, tmp_path / "unused", folder=service) as (base, _):
            with httpx.Client(base_url=base, timeout=60) as client:
                for start in range(0, len(rows), 100):
                    answer = client.post("/estimate", json={"people": people(rows[start:start + 100])})
                    assert answer.status_code == 200, answer.text
                    assert answer.headers["x-model-version"] == f"{SYSTEM}:1"
                    ids += answer.headers["x-prediction-id"].split(",")
                    assert len(answer.json()["estimates"]) == 100
    finally:
        ledger.close()
    return rows, ids


def attach_outcomes_and_monitor(govflow: Callable[..., str], tmp_path: Path, config: Path,
                                rows: list[dict[str, str]], ids: list[str]) -> None:
    # Late outcomes: the true incomes of the people served.
    outcomes = tmp_path / "outcomes.csv"
    with open(outcomes, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["prediction_id", "income"])
        writer.writerows([pid, row["income"]] for pid, row in zip(ids, rows, strict=True))
    attached = govflow("outcomes", "-c", str(config), "--input", str(outcomes))

    assert "attached 600 outcome(s)" in attached and "0 row(s) matched no prediction" in attached

    # Monitoring with outcomes re-judges the policy on served people: it alerts on race and opens an incident.
    monitored = govflow("run", "monitor", "-c", str(config), expect=1)
    assert "600 decisions, 600 with an outcome" in monitored
    assert "performance: ROC AUC 0.910, accuracy 0.848 (ok, min 0.7)" in monitored
    assert f"ALERT fairness {SYSTEM}:1" in monitored
    assert "fairness: equalized_odds_difference on race = 0.306 (bound 0.15)" in monitored
    incidents = govflow("incident", "list")
    assert f"open   {SYSTEM}" in incidents and f"{SYSTEM}:1" in incidents and "fundamental_rights" in incidents


def export_and_verify_the_bundle(govflow: Callable[..., str], tmp_path: Path) -> None:
    """The auditor's bundle, checked by its own verifier with a plain Python; then the ledger verifies."""
    bundle = tmp_path / "audit.zip"
    exported = govflow("export", f"{SYSTEM}:1", "--format", "bundle", "-o", str(bundle))
    assert exported.startswith(f"wrote the auditor's bundle of {SYSTEM}:1 to {bundle}: ")
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(tmp_path / "bundle")
    verified = subprocess.run([*PLAIN_PYTHON, "verify_bundle.py"], cwd=tmp_path / "bundle", capture_output=True,
                              text=True, env={"PATH": "/usr/bin:/bin"})
    assert verified.returncode == 0 and verified.stdout.startswith("bundle intact: "), verified.stdout + verified.stderr
    assert "ledger intact" in govflow("verify")
