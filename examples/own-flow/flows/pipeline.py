"""This team's training flow: its own steps and its own scikit-learn Pipeline, governed by govflow.

Each step is a ``@govflow.task``, so the ledger records its inputs and outputs (fingerprints), code
and environment, exactly as govflow's own steps. ``govflow.train`` then fits ``make_pipeline`` (named
by ``model.factory`` in govflow.yaml) on the frame ``build_features`` produced and registers it as a
candidate; ``govflow.gate`` checks it against the policy and records pass or block.

Run it from this folder: ``python -m flows.pipeline``. Exit 0 when the gate passed, 1 when it blocked.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.pipeline import make_pipeline as chain
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import govflow

TARGET, FAVOURABLE = "creditability", "good"
SENSITIVE = ["personal_status_and_sex", "age_in_years"]


def make_pipeline(seed: int = 42) -> Pipeline:
    """The model: impute and scale the numbers, one-hot encode the categories, logistic regression."""
    columns = ColumnTransformer([
        ("numbers", chain(SimpleImputer(strategy="median"), StandardScaler()),
         make_column_selector(dtype_include="number")),
        ("categories", OneHotEncoder(handle_unknown="ignore"), make_column_selector(dtype_exclude="number")),
    ])
    return Pipeline([("columns", columns), ("classifier", LogisticRegression(max_iter=1000, random_state=seed))])


@govflow.task
def load_applications(path: Path) -> pd.DataFrame:
    """The raw applications (the file's bytes are recorded as this step's input)."""
    return pd.read_csv(path)


@govflow.task
def build_features(applications: pd.DataFrame) -> pd.DataFrame:
    """This team's feature engineering: the monthly burden of the credit."""
    features = applications.copy()
    features["credit_per_month"] = features["credit_amount"] / features["duration_in_month"]
    return features


@govflow.task
def cross_validate(features: pd.DataFrame, folds: int = 3) -> dict[str, float]:
    """The team's own check before handing over: cross-validated ROC AUC of its pipeline."""
    x = features.drop(columns=[TARGET, *SENSITIVE])
    y = (features[TARGET] == FAVOURABLE).astype(int)
    scores = cross_val_score(make_pipeline(), x, y, cv=folds, scoring="roc_auc")
    return {"roc_auc_mean": float(scores.mean()), "roc_auc_std": float(scores.std())}


@govflow.flow(name="own-credit-pipeline")
def credit_pipeline(config: str = "govflow.yaml", data: str = "../../data/german_credit.csv") -> govflow.GateResult:
    features = build_features(load_applications(Path(data)))
    own = cross_validate(features)
    print(f"cross-validated ROC AUC {own['roc_auc_mean']:.3f} ± {own['roc_auc_std']:.3f}")
    trained = govflow.train(config, data=features)
    print(f"registered {trained.ref} as candidate")
    return govflow.gate(config, trained.version)


if __name__ == "__main__":
    decision = credit_pipeline()
    print(f"gate {decision.outcome} for {decision.ref}")
    for reason in decision.reasons:
        print(f"  - {reason}")
    sys.exit(0 if decision.passed else 1)
