"""Plain functions that build, fit and use a scikit-learn model for a system (tasks wrap them)."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from governance.config import GovflowConfig
from governance.datasets import binary_target, feature_columns


def build_pipeline(config: GovflowConfig, features: pd.DataFrame) -> Pipeline:
    categorical = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    numeric = [c for c in features.columns if c not in categorical]
    prep = ColumnTransformer([
        ("numeric", StandardScaler(), numeric),
        ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical),
    ])
    params = dict(config.model.params)
    estimator: Any
    if config.model.estimator == "logistic_regression":
        estimator = LogisticRegression(max_iter=params.pop("max_iter", 2000), **params)
    elif config.model.estimator == "hist_gradient_boosting":
        estimator = HistGradientBoostingClassifier(random_state=config.data.seed, **params)
    else:
        estimator = RandomForestClassifier(random_state=config.data.seed, **params)
    return Pipeline([("prep", prep), ("model", estimator)])


def split(config: GovflowConfig, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded, stratified train/held-out split."""
    train, test = train_test_split(frame, test_size=config.data.test_size, random_state=config.data.seed,
                                   stratify=frame[config.data.target])
    train, test = train.reset_index(drop=True), test.reset_index(drop=True)
    train.attrs["govflow:name"] = f"{frame.attrs.get('govflow:name', 'data')} (train split)"
    test.attrs["govflow:name"] = f"{frame.attrs.get('govflow:name', 'data')} (held-out split)"
    return train, test


def reweighing_weights(y: pd.Series, group: pd.Series) -> np.ndarray:
    """Kamiran & Calders reweighing: w(a, y) = P(a) P(y) / P(a, y), so group and label decorrelate."""
    frame = pd.DataFrame({"a": group.astype(str).to_numpy(), "y": y.to_numpy()})
    p_a = frame["a"].map(frame["a"].value_counts(normalize=True))
    p_y = frame["y"].map(frame["y"].value_counts(normalize=True))
    p_ay = frame.groupby(["a", "y"])["y"].transform("size") / len(frame)
    return (p_a * p_y / p_ay).to_numpy()


class FairClassifier:
    """A fairlearn `ExponentiatedGradient` over a fitted preprocessing step.

    Trained with the sensitive attribute, it predicts from the features alone (randomised over the
    mixture of classifiers it found, seeded), so serving does not need the sensitive attribute.
    """

    def __init__(self, prep: ColumnTransformer, mitigator: Any) -> None:
        self.prep = prep
        self.mitigator = mitigator
        self.classes_ = np.array([0, 1])

    def fit(self, X: pd.DataFrame, y: Any = None) -> FairClassifier:  # noqa: N803 - sklearn naming
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        return np.asarray(self.mitigator.predict(self.prep.transform(X), random_state=0))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        positive = np.asarray(self.mitigator._pmf_predict(self.prep.transform(X)))[:, 1]
        return np.column_stack([1 - positive, positive])


def sensitive_groups(config: GovflowConfig, frame: pd.DataFrame) -> pd.Series:
    """The first sensitive feature, binned as configured, as group labels (for mitigation)."""
    feature = config.data.sensitive()[0]
    values = frame[feature.column]
    if feature.bins:
        return pd.cut(values, bins=feature.bins, right=False).astype(str)
    return values.astype(str)


def fit(config: GovflowConfig, train: pd.DataFrame) -> Any:
    features = train[feature_columns(config, train)]
    y = binary_target(config, train[config.data.target])
    pipeline = build_pipeline(config, features)
    if config.model.mitigation == "reweighing" and config.data.sensitive():
        weights = reweighing_weights(y, sensitive_groups(config, train))
        return pipeline.fit(features, y, model__sample_weight=weights)
    if config.model.mitigation == "exponentiated_gradient" and config.data.sensitive():
        from fairlearn.reductions import DemographicParity, ExponentiatedGradient

        prep = pipeline.named_steps["prep"].fit(features)
        mitigator = ExponentiatedGradient(pipeline.named_steps["model"], constraints=DemographicParity())
        mitigator.fit(prep.transform(features), y, sensitive_features=sensitive_groups(config, train))
        return FairClassifier(prep, mitigator)
    return pipeline.fit(features, y)


def score(config: GovflowConfig, model: Any, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(predictions 0/1, scores = probability of the favourable outcome)``."""
    features = frame[feature_columns(config, frame)]
    scores = np.asarray(model.predict_proba(features))[:, 1]
    return (scores >= 0.5).astype(int), scores


def model_bytes(model: Any) -> bytes:
    return pickle.dumps(model, protocol=5)


def load_model(data: bytes) -> Any:
    return pickle.loads(data)  # noqa: S301 - bytes from our own content-addressed, hash-verified store
