"""A recorded model version, written into a real ledger the way the training and gate flows do.

Rows, ids and timestamps go through `Ledger.write` like any recorded step; the timestamps are fixed
so the documents differ between runs only in ids and hashes (which the golden tests normalise).
The numbers are made up for the test; they are shaped like German credit results.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from govflow import canonical as canon
from govflow.governance.ledger.engine import Ledger, Writer
from govflow.governance.ledger.runs import add_artifact
from govflow.governance.ledger.schema import (
    Approval,
    Artifact,
    CheckResultRow,
    DatasetVersion,
    Decision,
    Edge,
    ModelVersion,
    Run,
    RunState,
    StageChange,
)
from govflow.governance.reports.evidence import effective_policy

T0 = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
GENERATED_AT = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)
ENV = {"python": "3.12.3", "scikit-learn": "1.9.0", "pandas": "2.3.3", "fairlearn": "0.15.0"}
SCHEMA = [["age_in_years", "int64"], ["credit_amount", "int64"], ["creditability", "object"],
          ["duration_in_month", "int64"], ["personal_status_and_sex", "object"], ["purpose", "object"]]
CONFIG: dict[str, Any] = {
    "system": {"name": "credit-scoring", "provider": "Example Bank AG", "annex_iii": "5(b)",
               "intended_purpose": "Assess the creditworthiness of natural persons applying for consumer credit"},
    "data": {"train": "german_credit.csv", "target": "creditability", "positive_label": "good",
             "sensitive_features": ["personal_status_and_sex", {"column": "age_in_years", "bins": [0, 25, 120]}],
             "id_column": None, "exclude": [], "sensitive_as_features": False, "test_size": 0.3, "seed": 42,
             "contract": None, "name": None,
             "origin": "Statlog (German Credit Data), Hofmann (1994), UCI ML Repository, CC BY 4.0"},
    "model": {"estimator": "logistic_regression", "params": {}, "mitigation": "none"},
    "policy": {"fairness": {"demographic_parity_difference_max": 0.1, "disparate_impact_ratio_min": 0.8,
                            "min_group_size": 30}, "performance": {"roc_auc_min": 0.7}},
    "monitoring": {"schedule": "0 6 * * *", "window": "7d"},
    "logging": {"redact": [], "retention_days": 183},
    "lineage": {"openlineage": None},
    "base_dir": "/srv/credit-scoring",
}


def fp(label: str) -> str:
    return "fp1:" + hashlib.sha256(label.encode()).hexdigest()


def js(value: Any) -> str:
    return canon.canonical(value).decode("utf-8")


@dataclass
class Recorded:
    """Ids of what the scenario wrote."""

    model_version_id: str = ""
    training_run_id: str = ""
    gate_run_id: str = ""
    datasets: dict[str, str] = field(default_factory=dict)  # role -> dataset_versions.id
    tasks: dict[str, str] = field(default_factory=dict)  # task name -> run id


def _run(w: Writer, name: str, at: datetime, *, kind: str = "task", root: str | None = None,
         state: str = "completed", minutes: int = 1) -> str:
    row = w.add(Run, kind=kind, name=name, parent_run_id=root, root_run_id=root, params_json="{}",
                code_ref="git:4f2c1e9a", source_hash=None, env_json=js(ENV), config_hash=None, started_at=at)
    w.add(RunState, run_id=row["id"], state="running", at=at)
    w.add(RunState, run_id=row["id"], state=state, at=at + timedelta(minutes=minutes))
    return str(row["id"])


def _dataset(w: Writer, rec: Recorded, role: str, name: str, rows: int, run_id: str, uri: str | None = None) -> None:
    row = w.add(DatasetVersion, name=name, fingerprint=fp(name), schema_hash=canon.hash_value(SCHEMA),
                schema_json=js(SCHEMA), row_count=rows, uri=uri, produced_by_run_id=run_id, created_at=T0)
    rec.datasets[role] = row["id"]


def _edge(w: Writer, run_id: str, direction: str, role: str, name: str, rec: Recorded, kind: str = "dataset") -> None:
    by_name = {_NAMES[role]: dataset_id for role, dataset_id in rec.datasets.items()}
    entity = by_name.get(name) if kind == "dataset" else None
    w.add(Edge, run_id=run_id, direction=direction, role=role, entity_kind=kind, entity_id=entity, fingerprint=fp(name))


_NAMES = {"source": "german_credit.csv", "train": "german_credit.csv (train split)",
          "held-out": "german_credit.csv (held-out split)"}


def _check(w: Writer, run_id: str, kind: str, name: str, subject: str, passed: bool | None, observed: Any,
           threshold: Any, details: dict[str, Any] | None = None, mv: str | None = None, severity: str = "error") -> None:
    w.add(CheckResultRow, run_id=run_id, model_version_id=mv, kind=kind, name=name, subject=subject,
          passed=None if passed is None else int(passed), observed_json=js(observed), threshold_json=js(threshold),
          severity=severity, details_json=js(details or {}))


def _validation(w: Writer, run_id: str, mv: str | None = None) -> None:
    _check(w, run_id, "validation", "null_rate", "credit_amount", True, 0.0, 0.0, {"unexpected_count": 0}, mv,
           severity="critical")
    _check(w, run_id, "validation", "allowed_values", "purpose", True, 0, 0,
           {"unexpected_count": 0, "value_set": ["business", "car (new)", "education"]}, mv, severity="critical")


def record_training(ledger: Ledger, config: dict[str, Any] | None = None) -> Recorded:
    """The training flow and the version it registers (stage candidate)."""
    rec = Recorded()
    config = CONFIG if config is None else config
    with ledger.write("flow.completed", "flow train") as w:
        root = rec.training_run_id = _run(w, "train", T0, kind="flow", minutes=10)
        for i, task in enumerate(("load_data", "validate_data", "split_data", "fit_model", "evaluate_model",
                                  "register_candidate")):
            rec.tasks[task] = _run(w, task, T0 + timedelta(minutes=i), root=root)
        t = rec.tasks
        _dataset(w, rec, "source", _NAMES["source"], 1000, t["load_data"], "file:///srv/credit-scoring/german_credit.csv")
        _edge(w, t["load_data"], "output", "return", _NAMES["source"], rec)
        _edge(w, t["validate_data"], "input", "frame", _NAMES["source"], rec)
        _validation(w, t["validate_data"])
        _edge(w, t["split_data"], "input", "frame", _NAMES["source"], rec)
        _dataset(w, rec, "train", _NAMES["train"], 700, t["split_data"])
        _dataset(w, rec, "held-out", _NAMES["held-out"], 300, t["split_data"])
        _edge(w, t["split_data"], "output", "return[0]", _NAMES["train"], rec)
        _edge(w, t["split_data"], "output", "return[1]", _NAMES["held-out"], rec)
        _edge(w, t["fit_model"], "input", "train", _NAMES["train"], rec)
        _edge(w, t["fit_model"], "output", "return", "model", rec, kind="model")
        _edge(w, t["evaluate_model"], "input", "test", _NAMES["held-out"], rec)
        _check(w, t["evaluate_model"], "performance", "roc_auc", "overall", True, 0.7712, 0.7, {"bound": "min"},
               severity="critical")
    with ledger.write("model.registered", "credit-scoring") as w:
        mv = w.add(ModelVersion, system="credit-scoring", version=1, fingerprint=fp("model"),
                   artifact_hash=hashlib.sha256(b"model").hexdigest(), artifact_uri="artifacts/x",
                   training_run_id=rec.training_run_id, hyperparams_json=js({"C": 1.0, "max_iter": 2000}),
                   config_snapshot=js(config), created_at=T0 + timedelta(minutes=6))
        rec.model_version_id = mv["id"]
        for kind, name, media in (("holdout_data", "holdout.parquet", "application/vnd.apache.parquet"),
                                  ("reference_data", "reference.parquet", "application/vnd.apache.parquet"),
                                  ("data_contract", "data-contract.json", "application/json")):
            w.add(Artifact, kind=kind, name=name, content_hash=hashlib.sha256(name.encode()).hexdigest(),
                  uri=f"artifacts/{name}", media_type=media, size=10, produced_by_run_id=rec.tasks["register_candidate"],
                  model_version_id=mv["id"], created_at=T0 + timedelta(minutes=6))
        w.add(StageChange, model_version_id=mv["id"], stage="candidate", at=T0 + timedelta(minutes=6),
              by="ci", reason="registered by the training flow")
    return rec


GROUPS = [  # feature, group, count, selection rate, its interval, accuracy, tpr, fpr
    ("age_in_years", "[0, 25)", 52, 0.5962, [0.4615, 0.7308], 0.6923, 0.8065, 0.2857),
    ("age_in_years", "[25, 120)", 248, 0.7056, [0.6492, 0.7621], 0.7621, 0.8715, 0.3797),
    ("personal_status_and_sex", "female", 93, 0.6344, [0.5376, 0.7312], 0.7312, 0.8361, 0.3125),
    ("personal_status_and_sex", "male", 193, 0.7047, [0.6425, 0.7668], 0.7617, 0.8741, 0.3860),
    ("personal_status_and_sex", "male : single, widowed", 14, 0.7143, [0.4286, 0.9286], 0.7857, 0.9, 0.25),
]
DISPARITIES = [  # feature, metric, value, bound, value with all groups, interval, excluded groups
    ("age_in_years", "demographic_parity_difference", 0.1094, 0.1, 0.1094, [0.0312, 0.1877], []),
    ("age_in_years", "disparate_impact_ratio", 0.845, 0.8, 0.845, [0.7312, 0.9521], []),
    ("personal_status_and_sex", "demographic_parity_difference", 0.0704, 0.1, 0.0799, [0.0051, 0.1412], ["male : single, widowed"]),
    ("personal_status_and_sex", "disparate_impact_ratio", 0.9001, 0.8, 0.8881, [0.8012, 0.9934], ["male : single, widowed"]),
]


def _fairness(w: Writer, ledger: Ledger, run_id: str, mv: str, table: bool) -> None:
    """What `govflow.checks.fairness.assess_fairness` returns, recorded as the gate records it."""
    for feature, group, count, *_ in GROUPS:
        judged = count >= 30
        _check(w, run_id, "fairness", "group_size", f"{feature}={group}", True if judged else None, count, 30,
               {"feature": feature, "group": group, "status": "judged" if judged else "too small to judge"},
               mv=mv, severity="info" if judged else "warning")
    for feature, metric, value, limit, with_all, ci, excluded in DISPARITIES:
        passed = value >= limit if metric.endswith("ratio") else value <= limit
        _check(w, run_id, "fairness", metric, feature, passed, value, limit,
               {"feature": feature, "groups_judged": [g[1] for g in GROUPS if g[0] == feature and g[2] >= 30],
                "excluded_groups": excluded, "value_with_all_groups": with_all, "ci": ci, "confidence_level": 0.95},
               mv=mv, severity="critical")
    _check(w, run_id, "fairness", "small_group_exclusion", "personal_status_and_sex", False, 0.0799, 0.1,
           {"metric": "demographic_parity_difference", "value_judged_groups": 0.0704, "value_with_all_groups": 0.0799,
            "excluded_groups": ["male : single, widowed"],
            "message": "demographic_parity_difference passes (0.070) only because male : single, widowed "
                       "(fewer than 30 rows) were left out; with them it is 0.080"}, mv=mv, severity="warning")
    if not table:
        return
    rows = [{"feature": f, "group": g, "count": n, "judged": n >= 30, "selection_rate": sr, "accuracy": acc,
             "tpr": tpr, "fpr": fpr, "mean_score": None, "selection_rate_ci": ci, "accuracy_ci": None, "tpr_ci": None,
             "fpr_ci": None} for f, g, n, sr, ci, acc, tpr, fpr in GROUPS]
    add_artifact(w, ledger.artifacts, kind="fairness_by_group", name="fairness_by_group.json",
                 data=canon.canonical(rows), media_type="application/json", run_id=run_id, model_version_id=mv)


def record_gate(ledger: Ledger, rec: Recorded, *, fairness: bool = True, group_table: bool = True) -> None:
    """The gate flow on the held-out data: validation, performance, fairness, then its decision."""
    mv = rec.model_version_id
    start = T0 + timedelta(hours=1)
    with ledger.write("flow.completed", "flow gate") as w:
        root = rec.gate_run_id = _run(w, "gate", start, kind="flow", minutes=5)
        tasks = {name: _run(w, name, start + timedelta(minutes=i), root=root)
                 for i, name in enumerate(("validate_holdout", "evaluate", "assess_fairness"))}
        for task in tasks.values():
            _edge(w, task, "input", "frame", _NAMES["held-out"], rec)
        _validation(w, tasks["validate_holdout"], mv)
        _check(w, tasks["evaluate"], "performance", "roc_auc", "overall", True, 0.7712, 0.7, {"bound": "min"},
               mv=mv, severity="critical")
        _check(w, tasks["evaluate"], "performance", "accuracy", "overall", None, 0.7533, None, {"bound": "min"},
               mv=mv, severity="info")
        # The flow returns its results too, so the flow run records them a second time (no model version link).
        _check(w, root, "performance", "roc_auc", "overall", True, 0.7712, 0.7, {"bound": "min"}, severity="critical")
        if fairness:
            _fairness(w, ledger, tasks["assess_fairness"], mv, group_table)
        reasons = (["fairness: demographic_parity_difference on age_in_years = 0.109 (bound 0.1)"] if fairness
                   else ["validation: all critical results passed (2 passed, 0 not judged)"])
        w.add(Decision, model_version_id=mv, run_id=root, outcome="block" if fairness else "pass",
              reasons_json=js(reasons), policy_hash=effective_policy(CONFIG["policy"])[1],
              decided_at=start + timedelta(minutes=5))


def record_approvals(ledger: Ledger, rec: Recorded) -> None:
    at = T0 + timedelta(hours=2)
    with ledger.write("model.approval", "credit-scoring:1 model_owner") as w:
        w.add(Approval, model_version_id=rec.model_version_id, role="model_owner", approver="Alice Example",
              os_user="alice", decision="approve", rationale="Performance meets the policy; see the model card.",
              evidence_hash=hashlib.sha256(b"evidence").hexdigest(), decided_at=at)
    with ledger.write("model.approval", "credit-scoring:1 risk_officer") as w:
        w.add(Approval, model_version_id=rec.model_version_id, role="risk_officer", approver="Bob Example",
              os_user="bob", decision="reject",
              rationale="Age disparity above the bound: <retrain> with *mitigation* | see [report](http://x.example)",
              evidence_hash=hashlib.sha256(b"evidence").hexdigest(), decided_at=at + timedelta(minutes=30))


def full(ledger: Ledger) -> Recorded:
    rec = record_training(ledger)
    record_gate(ledger, rec)
    record_approvals(ledger, rec)
    return rec
