"""The fixtures monitoring and incident tests share: the CLI's environment kept to each test, and a
released system (toy-screening, version 1 in production) copied for each test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from govflow.flows.recording import set_ledger
from govflow.governance.ledger.engine import Ledger
from tests.monitoring.system import copy_of, template


@pytest.fixture(autouse=True)
def _govflow_env() -> Iterator[None]:
    """The CLI (`govflow.settings.configure`) sets GOVFLOW_HOME for its process: keep it to the test."""
    saved = {name: os.environ.get(name) for name in ("GOVFLOW_HOME", "GOVFLOW_DB_URL")}
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def released(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory,
             tmp_path: Path) -> Iterator[tuple[Path, Ledger]]:
    """``(config path, ledger)`` of toy-screening with version 1 in production (recording points at it)."""
    config, ledger = copy_of(template(tmp_path_factory.getbasetemp() / "templates"), tmp_path / "system")
    yield config, ledger
    set_ledger(None)
    ledger.close()
