"""Gate tests: real training and gate flows on German credit, under the session's Prefect harness."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from govflow.flows.recording import set_ledger
from govflow.governance.ledger.engine import Ledger

HERE = Path(__file__).parent
DATA = HERE.parent.parent / "data"
RELAXED = HERE / "relaxed.govflow.yaml"  # test-only policy: see the file's first line
DEFAULT = DATA / "credit-scoring.govflow.yaml"


@pytest.fixture(autouse=True, scope="session")
def _prefect(prefect_harness: None) -> None:
    """Flows here run under the session's one Prefect harness."""


@pytest.fixture
def recorder(sqlite_ledger: Ledger) -> Iterator[Ledger]:
    set_ledger(sqlite_ledger)
    yield sqlite_ledger
    set_ledger(None)
