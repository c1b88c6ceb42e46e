"""Plain functions that build, fit and use a scikit-learn model for a system (tasks wrap them)."""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from govflow.errors import ConfigError, DataError, GovflowError
from govflow.governance.config import GovflowConfig
from govflow.governance.registry.datasets import binary_target, feature_columns
from govflow.governance.registry.estimators import build, describe, estimator_class, refused_while_fitting
from govflow.governance.registry.factories import final_step, refuse_unserved, search_first


def build_model(config: GovflowConfig, features: pd.DataFrame) -> Any:
    """A fresh model: the team's own (``model.factory``, given the raw feature columns), else govflow's
    preprocessing (scaling, one-hot encoding) and ``model.estimator``."""
    if config.model.factory:
        return build(None, config.model.factory, config.model.params, config.data.seed, Path(config.base_dir))
    return build_pipeline(config, features)


def build_pipeline(config: GovflowConfig, features: pd.DataFrame) -> Pipeline:
    categorical = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    numeric = [c for c in features.columns if c not in categorical]
    prep = ColumnTransformer([
        ("numeric", StandardScaler(), numeric),
        ("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical),
    ])
    estimator = build(config.model.estimator, None, config.model.params, config.data.seed, Path(config.base_dir))
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
    """A fairlearn `ExponentiatedGradient` (equalized odds) over a fitted preprocessing step.

    Trained with the sensitive attributes, it predicts from the features alone, so serving does
    not need the sensitive attributes. Its guarantee holds for the randomised classifier, so a
    decision is drawn from the mixture's probability (`row_draw`), not thresholded at 0.5.
    """

    needs_sensitive = False

    def __init__(self, prep: Any, mitigator: Any) -> None:
        self.prep = prep
        self.mitigator = mitigator

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803 - sklearn naming
        positive = np.clip(np.asarray(self.mitigator._pmf_predict(self.prep.transform(X)))[:, 1], 0.0, 1.0)
        return np.column_stack([1 - positive, positive])

    def predict(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        return (row_draw(X) < self.predict_proba(X)[:, 1]).astype(int)


def row_draw(frame: pd.DataFrame) -> np.ndarray:
    """A uniform [0, 1) number per row from a hash of the row: randomised decisions made reproducible.

    The same applicant always gets the same decision, alone or in a batch.
    """
    return pd.util.hash_pandas_object(frame, index=False).to_numpy() / float(2**64)


class GroupThresholdClassifier:
    """fairlearn's `ThresholdOptimizer` (equalized odds) over the intersection of the sensitive features.

    Post-processing: per group thresholds on a fitted pipeline's scores. It NEEDS the sensitive
    attributes at prediction time (``needs_sensitive``): serving must receive them with each request.
    For some groups it randomises between two thresholds; the draw is `row_draw`.
    """

    needs_sensitive = True

    def __init__(self, optimizer: Any, features: list[str], sensitive: list[Any]) -> None:
        self.optimizer = optimizer
        self.features = features
        self.sensitive = sensitive

    def groups(self, frame: pd.DataFrame) -> pd.Series:
        return intersection_groups(self.sensitive, frame)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return (row_draw(frame[self.features]) < self.predict_proba(frame)[:, 1]).astype(int)

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        positive = np.asarray(self.optimizer._pmf_predict(frame[self.features],
                                                          sensitive_features=self.groups(frame)))[:, 1]
        return np.column_stack([1 - positive, positive])


def intersection_groups(sensitive: list[Any], frame: pd.DataFrame) -> pd.Series:
    """One label per row for the intersection of the sensitive features, binned as configured."""
    parts = []
    for feature in sensitive:
        values = frame[feature.column]
        parts.append(pd.cut(values, bins=feature.bins, right=False).astype(str) if feature.bins else values.astype(str))
    labels = parts[0]
    for part in parts[1:]:
        labels = labels + " & " + part
    return labels.reset_index(drop=True)


DEGENERATE_GROUPS = (
    "model.mitigation: threshold_optimizer needs both outcomes in every group of the sensitive features' "
    "intersection, but these training groups have only one: {groups}; use fewer sensitive features or "
    "coarser bins, or another mitigation"
)


FIT_FAILED = ("model.factory: the model that \"{spec}\" built failed to fit the training data: {error}; fix the "
              "factory (e.g. a SimpleImputer before a step that cannot take missing values)")


def fit(config: GovflowConfig, train: pd.DataFrame) -> Any:
    """Fit the configured model; parameters the estimator refuses only while fitting are a `ConfigError`,
    and so is a team's own model (``model.factory``) that fails to fit: its code, not govflow's."""
    try:
        return _fit(config, train)
    except (ValueError, TypeError, AttributeError, KeyError, IndexError) as e:
        if isinstance(e, GovflowError):
            raise
        if config.model.factory:
            raise ConfigError(FIT_FAILED.format(spec=config.model.factory, error=_one_line(e))) from e
        estimator = config.model.estimator or "logistic_regression"
        if not isinstance(e, ValueError) or not refused_while_fitting(e, estimator, config.model.params,
                                                                      config.data.seed):
            raise
        raise ConfigError(describe(estimator_class(estimator).__name__, e)) from e


def _one_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {' '.join(str(error).split())[:300]}"


def sample_weight_params(config: GovflowConfig, model: Any, weights: np.ndarray, mitigation: str) -> dict[str, Any]:
    """``fit`` keyword arguments that give ``weights`` to the model's final step, through its pipelines
    (``step__sample_weight``); `ConfigError` when the final step takes no sample weights."""
    refuse_unserved(mitigation, model, config.model.factory or str(config.model.estimator))
    routed: dict[str, Any] = {"sample_weight": weights}
    while isinstance(model, Pipeline):
        name, model = model.steps[-1]
        routed = {f"{name}__{key}": value for key, value in routed.items()}
    return routed


def fit_weighted(config: GovflowConfig, model: Any, features: pd.DataFrame, y: pd.Series, weights: np.ndarray) -> Any:
    from sklearn import config_context

    params = sample_weight_params(config, model, weights, "reweighing")
    # With scikit-learn's metadata routing on, every step that could take sample_weight must be told
    # whether it does (a scaler would refuse the fit); routed by step name instead, only the final step gets them.
    with config_context(enable_metadata_routing=False):
        return model.fit(features, y, **params)


def split_final(model: Any) -> tuple[Any, Any]:
    """``(preprocessing, final estimator)``: a pipeline's steps before its last (one step as itself), or
    the identity for a bare estimator."""
    from sklearn.preprocessing import FunctionTransformer

    if not isinstance(model, Pipeline) or len(model.steps) < 2:
        return FunctionTransformer(), final_step(model)
    return (model.steps[0][1] if len(model.steps) == 2 else model[:-1]), model.steps[-1][1]


def _fit(config: GovflowConfig, train: pd.DataFrame) -> Any:
    columns = feature_columns(config, train)
    features = train[columns]
    y = binary_target(config, train[config.data.target])
    model = build_model(config, features)
    sensitive = config.data.sensitive()
    mitigation = config.model.mitigation if sensitive else "none"
    if mitigation == "reweighing":
        weights = reweighing_weights(y, intersection_groups(sensitive, train))
        return fit_weighted(config, model, features, y, weights)
    if mitigation == "exponentiated_gradient":
        from fairlearn.reductions import EqualizedOdds, ExponentiatedGradient
        from threadpoolctl import threadpool_limits

        prep, estimator = split_final(model)
        refuse_unserved(mitigation, estimator, config.model.factory or str(config.model.estimator))  # refit weighted
        prep = prep.fit(features, y)
        mitigator = ExponentiatedGradient(estimator, constraints=EqualizedOdds(difference_bound=0.01))
        # The reduction fits the estimator a hundred times or more on the same data: on one BLAS thread
        # each fit is several times faster on a busy two-core machine (no thread hand-offs for a
        # 50,000 x 90 problem), and the result does not depend on how many cores the machine has.
        with threadpool_limits(limits=1, user_api="blas"):
            mitigator.fit(prep.transform(features), y, sensitive_features=intersection_groups(sensitive, train))
        return FairClassifier(prep, mitigator)
    if mitigation == "threshold_optimizer":
        from fairlearn.postprocessing import ThresholdOptimizer

        groups = intersection_groups(sensitive, train)
        labels_per_group = y.groupby(groups.to_numpy()).nunique()
        degenerate = sorted(str(g) for g in labels_per_group[labels_per_group < 2].index)
        if degenerate:
            raise DataError(DEGENERATE_GROUPS.format(groups=", ".join(degenerate[:5])))

        optimizer = ThresholdOptimizer(estimator=model, constraints="equalized_odds",
                                       predict_method="predict_proba", prefit=False)
        optimizer.fit(features, y, sensitive_features=intersection_groups(sensitive, train))
        return GroupThresholdClassifier(optimizer, columns, sensitive)
    return model.fit(features, y)


def score(config: GovflowConfig, model: Any, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(decisions 0/1, scores = probability of the favourable outcome)``."""
    given = frame if getattr(model, "needs_sensitive", False) else frame[feature_columns(config, frame)]
    scores = np.asarray(model.predict_proba(given))[:, 1]
    decisions = np.asarray(model.predict(given)) if randomises(model) else scores >= 0.5
    return decisions.astype(int), scores


def randomises(model: Any) -> bool:
    """Whether the model's decisions are drawn from its score (fairlearn's mitigations), not read off it at 0.5."""
    return isinstance(model, FairClassifier | GroupThresholdClassifier)


def model_bytes(model: Any) -> bytes:
    return pickle.dumps(model, protocol=5)


# Where govflow's own model classes lived before the one-package layout: models stored by an earlier
# version still load (the stored bytes, and so their hash, are unchanged).
MOVED = {"govflow.flows.modeling": __name__, "govflow.flows.recommender": "govflow.flows.models.recommender"}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        return super().find_class(MOVED.get(module, module), name)


def _unpickle(data: bytes) -> Any:
    return _Unpickler(io.BytesIO(data)).load()  # bytes from our own content-addressed, hash-verified store


def load_model(data: bytes, config: GovflowConfig | None = None) -> Any:
    """The stored model. A team's own pipeline may hold classes of its factory's module (a custom
    transformer): unpickled with the config's folder first on sys.path, as the factory was imported."""
    if config is None or not config.model.factory:
        return _unpickle(data)
    with search_first(Path(config.base_dir)):
        return _unpickle(data)
