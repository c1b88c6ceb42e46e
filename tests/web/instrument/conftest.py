"""Fixtures of the own-service tests: the example team's own model, trained once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.web.instrument.helpers import train_example_model


@pytest.fixture(scope="session")
def own_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_example_model(tmp_path_factory.mktemp("own-model") / "model.joblib")
