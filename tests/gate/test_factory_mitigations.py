"""Each mitigation on a team's own pipeline (`model.factory`): it trains, or is refused naming the combination."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from govflow.flows.models import tabular as modeling
from govflow.governance.config import load_config
from govflow.governance.registry.datasets import load_training_frame

from .test_factory import RELAXED_POLICY, project
from .test_refused_input import refused

# -- mitigations on a pipeline --------------------------------------------------------------------

@pytest.mark.parametrize("mitigation, wrapper", [("reweighing", "Pipeline"), ("exponentiated_gradient", "FairClassifier"),
                                                 ("threshold_optimizer", "GroupThresholdClassifier")])
def test_each_mitigation_trains_on_a_pipeline(tmp_path: Path, mitigation: str, wrapper: str) -> None:
    config, module = project(tmp_path, model=f'  factory: "MODULE:build"\n  params: {{final: lr}}\n'
                                             f"  mitigation: {mitigation}\n")
    config.write_text(config.read_text().replace("MODULE", module))
    cfg = load_config(config)
    train, holdout = modeling.split(cfg, load_training_frame(cfg))
    model = modeling.load_model(modeling.model_bytes(modeling.fit(cfg, train)))
    assert type(model).__name__ == wrapper
    decisions, scores = modeling.score(cfg, model, holdout)
    assert set(np.unique(decisions)) <= {0, 1} and len(scores) == len(holdout)


def test_reweighing_reaches_the_pipelines_final_step(tmp_path: Path) -> None:
    """The weights change the fit (routed as clf__sample_weight), also under scikit-learn's metadata routing."""
    import sklearn

    def fitted(mitigation: str, routing: bool = False) -> Any:
        text = f'  factory: "{module}:build"\n  params: {{final: lr}}\n  mitigation: {mitigation}\n'
        config.write_text(config.read_text().split("model:\n")[0] + "model:\n" + text + RELAXED_POLICY)
        cfg = load_config(config)
        train, holdout = modeling.split(cfg, load_training_frame(cfg))
        with sklearn.config_context(enable_metadata_routing=routing):
            return modeling.score(cfg, modeling.fit(cfg, train), holdout)[1]

    config, module = project(tmp_path)
    plain, weighted = fitted("none"), fitted("reweighing")
    assert not np.allclose(plain, weighted)
    assert np.allclose(fitted("reweighing", routing=True), weighted)


UNWEIGHTED = '''
from sklearn.compose import ColumnTransformer
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler


def build():
    return Pipeline([("prep", ColumnTransformer([("n", StandardScaler(), ["income"])])),
                     ("knn", KNeighborsClassifier())])
'''


@pytest.mark.parametrize("mitigation", ["reweighing", "exponentiated_gradient"])
def test_a_mitigation_the_pipeline_cannot_take_is_refused(monkeypatch: Any, capsys: Any, tmp_path: Path,
                                                          mitigation: str) -> None:
    module = f"team_model_{secrets.token_hex(4)}"
    config, _ = project(tmp_path, module=module, source=UNWEIGHTED,
                        model=f'  factory: "{module}:build"\n  mitigation: {mitigation}\n')
    assert refused(monkeypatch, capsys, config) == (
        f"error: {config}: model.mitigation: {mitigation} fits the model's final step with sample weights, and "
        f"KNeighborsClassifier (the final step of the model of \"{module}:build\") takes no sample_weight in fit; this "
        "combination is not served: use model.mitigation threshold_optimizer (it needs no sample weights), or end "
        "the pipeline with an estimator that takes them (e.g. LogisticRegression, HistGradientBoostingClassifier)")
    config.write_text(config.read_text().replace(mitigation, "threshold_optimizer"))
    cfg = load_config(config)  # the combination it suggests is served
    train, _ = modeling.split(cfg, load_training_frame(cfg))
    assert type(modeling.fit(cfg, train)).__name__ == "GroupThresholdClassifier"
