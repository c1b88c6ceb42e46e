"""Model building: mitigations, reproducible randomised decisions, and their errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from govflow.errors import DataError
from govflow.flows.models import tabular as modeling
from govflow.governance.config import parse_config

from .conftest import DATA


def config(mitigation: str) -> object:
    raw = {"system": {"name": "toy", "intended_purpose": "test"},
           "data": {"train": "toy.csv", "target": "y", "positive_label": 1, "sensitive_features": ["sex", "race"]},
           "model": {"mitigation": mitigation}}
    return parse_config(raw, DATA)


def toy(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x": rng.normal(size=rows), "sex": rng.choice(["f", "m"], rows),
                          "race": rng.choice(["a", "b"], rows)})
    frame["y"] = (frame["x"] + rng.normal(scale=0.5, size=rows) > 0).astype(int)
    return frame


def test_reweighing_decorrelates_group_and_label() -> None:
    y = pd.Series([1, 1, 1, 0, 1, 0, 0, 0])
    group = pd.Series(["a", "a", "a", "a", "b", "b", "b", "b"])
    weights = modeling.reweighing_weights(y, group)
    # P(a)=1/2, P(y=1)=1/2, P(a, y=1)=3/8 -> 2/3; P(a, y=0)=1/8 -> 2
    assert weights.tolist() == pytest.approx([2 / 3, 2 / 3, 2 / 3, 2, 2, 2 / 3, 2 / 3, 2 / 3])
    weighted = pd.DataFrame({"w": weights, "y": y, "g": group}).groupby("g").apply(
        lambda f: (f.w * f.y).sum() / f.w.sum(), include_groups=False)
    assert weighted["a"] == pytest.approx(weighted["b"])


def test_randomised_decisions_are_the_same_alone_or_in_a_batch() -> None:
    cfg = config("threshold_optimizer")
    frame = toy()
    model = modeling.fit(cfg, frame)  # type: ignore[arg-type]
    assert model.needs_sensitive is True
    batch, _ = modeling.score(cfg, model, frame)  # type: ignore[arg-type]
    alone = [modeling.score(cfg, model, frame.iloc[[i]])[0][0] for i in (0, 7, 123)]  # type: ignore[arg-type]
    assert alone == [batch[0], batch[7], batch[123]]


def test_threshold_optimizer_refuses_groups_with_one_outcome() -> None:
    frame = toy()
    frame.loc[(frame.sex == "f") & (frame.race == "b"), "y"] = 1
    with pytest.raises(DataError) as error:
        modeling.fit(config("threshold_optimizer"), frame)  # type: ignore[arg-type]
    assert str(error.value) == (
        "model.mitigation: threshold_optimizer needs both outcomes in every group of the sensitive features' "
        "intersection, but these training groups have only one: f & b; use fewer sensitive features or "
        "coarser bins, or another mitigation")
