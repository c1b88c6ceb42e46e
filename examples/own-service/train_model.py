"""The team's own training script (no govflow in it): a scikit-learn pipeline on the German credit
data, saved with joblib, with the rows it was fitted on and the held-out rows it never saw.

``python train_model.py [DATA.csv] [OUT.joblib]`` writes OUT (default ``model.joblib``) and, beside
it, ``train.csv`` and ``test.csv`` (what ``govflow register`` fingerprints).
"""

from __future__ import annotations

import sys
from pathlib import Path

import joblib
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "data" / "german_credit.csv"
TARGET = "creditability"  # "good" / "bad": the classes sort as ["bad", "good"], the favourable one last
SENSITIVE = ["personal_status_and_sex", "age_in_years"]  # assessed on, not used by the model


def train(data: Path, out: Path) -> Path:
    frame = pd.read_csv(data)
    fit_on, held_out = train_test_split(frame, test_size=0.25, random_state=7, stratify=frame[TARGET])
    features = fit_on.drop(columns=[TARGET, *SENSITIVE])
    categorical = [c for c in features.columns if features[c].dtype == object]
    numeric = [c for c in features.columns if c not in categorical]
    model = Pipeline([
        ("prepare", ColumnTransformer([("categories", OneHotEncoder(handle_unknown="ignore"), categorical),
                                       ("numbers", StandardScaler(), numeric)])),
        ("classify", LogisticRegression(max_iter=1000)),
    ])
    model.fit(features, fit_on[TARGET])
    joblib.dump(model, out)
    fit_on.to_csv(out.with_name("train.csv"), index=False)
    held_out.to_csv(out.with_name("test.csv"), index=False)
    return out


if __name__ == "__main__":
    args = sys.argv[1:]
    print(train(Path(args[0]) if args else DATA, Path(args[1]) if len(args) > 1 else HERE / "model.joblib"))
