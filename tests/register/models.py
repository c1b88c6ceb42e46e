"""Models fitted the way a team would outside govflow: German credit, the demo config's columns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

ROOT = Path(__file__).parent.parent.parent
DATA = ROOT / "data"
DEMO_CONFIG = DATA / "credit-scoring.govflow.yaml"
TARGET = "creditability"
SENSITIVE = ["personal_status_and_sex", "age_in_years"]  # kept out of the model, as the demo config does


class Doubler(BaseEstimator, TransformerMixin):  # type: ignore[misc]
    """A team's own transformer: a type skops does not trust by default."""

    def fit(self, X: Any, y: Any = None) -> Doubler:  # noqa: N803 - scikit-learn naming
        return self

    def transform(self, X: Any) -> Any:  # noqa: N803
        return X * 2


def split(folder: Path) -> tuple[Path, Path]:
    """The training and held-out files, split the way a team might have split them."""
    frame = pd.read_csv(DATA / "german_credit.csv")
    train, test = train_test_split(frame, test_size=0.3, random_state=7, stratify=frame[TARGET])
    train_file, test_file = folder / "train.csv", folder / "test.csv"
    train.to_csv(train_file, index=False)
    test.to_csv(test_file, index=False)
    return train_file, test_file


def features(train: pd.DataFrame, drop: list[str] | None = None) -> pd.DataFrame:
    return train.drop(columns=[TARGET, *(SENSITIVE if drop is None else drop)])


def pipeline(x: pd.DataFrame, own_step: bool = False) -> Pipeline:
    categorical = [c for c in x.columns if x[c].dtype == object]
    numeric = [c for c in x.columns if c not in categorical]
    scale: Any = Pipeline([("double", Doubler()), ("scale", StandardScaler())]) if own_step else StandardScaler()
    prep = ColumnTransformer([("numeric", scale, numeric),
                              ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical)])
    return Pipeline([("prep", prep), ("model", LogisticRegression(max_iter=1000))])


def fitted(train_file: Path, drop: list[str] | None = None, own_step: bool = False) -> Pipeline:
    train = pd.read_csv(train_file)
    x = features(train, drop)
    return pipeline(x, own_step).fit(x, train[TARGET])


def config_text(train_file: Path) -> str:
    """The demo config on the given training file, with fairness bounds a German-credit model meets.

    TEST ONLY: the demo's 0.1 bounds block every German-credit model; the test checks the path through the gate.
    """
    text = DEMO_CONFIG.read_text(encoding="utf-8").replace("train: german_credit.csv", f"train: {train_file}")
    relaxed = text.replace("demographic_parity_difference_max: 0.1, equalized_odds_difference_max: 0.1",
                           "demographic_parity_difference_max: 0.3, equalized_odds_difference_max: 0.3")
    assert relaxed != text
    return relaxed
