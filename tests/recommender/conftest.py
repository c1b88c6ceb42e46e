"""Recommender fixtures: a synthetic ratings set with its config; flows run under the session's one
Prefect harness (``prefect_harness`` in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from govflow.flows.recording import set_ledger
from govflow.governance.ledger.engine import Ledger
from tests.recommender.synthetic import write_config


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return write_config(tmp_path / "system")


@pytest.fixture
def recorder(sqlite_ledger: Ledger, prefect_harness: None) -> Iterator[Ledger]:
    set_ledger(sqlite_ledger)
    yield sqlite_ledger
    set_ledger(None)
