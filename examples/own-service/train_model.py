"""The team's own training script (no govflow in it): a scikit-learn pipeline on the German credit
data, saved with joblib. ``python train_model.py [DATA.csv] [OUT.joblib]``."""

from __future__ import annotations

import sys
from pathlib import Path

import joblib
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "data" / "german_credit.csv"
TARGET, FAVOURABLE = "creditability", "good"
SENSITIVE = ["personal_status_and_sex", "age_in_years"]  # assessed on, not used by the model


def train(data: Path, out: Path) -> Path:
    frame = pd.read_csv(data)
    features = frame.drop(columns=[TARGET, *SENSITIVE])
    categorical = [c for c in features.columns if features[c].dtype == object]
    numeric = [c for c in features.columns if c not in categorical]
    model = Pipeline([
        ("prepare", ColumnTransformer([("categories", OneHotEncoder(handle_unknown="ignore"), categorical),
                                       ("numbers", StandardScaler(), numeric)])),
        ("classify", LogisticRegression(max_iter=1000)),
    ])
    model.fit(features, frame[TARGET] == FAVOURABLE)
    joblib.dump(model, out)
    return out


if __name__ == "__main__":
    args = sys.argv[1:]
    print(train(Path(args[0]) if args else DATA, Path(args[1]) if len(args) > 1 else HERE / "model.joblib"))
