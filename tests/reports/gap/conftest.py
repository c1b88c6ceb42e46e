"""The seed scenario (`tests.reports.gap.scenario`), built once per session, and copies of it to change."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from govflow.governance.ledger.engine import Ledger
from tests.reports.gap.scenario import Scenario, copy_home, scenario


@pytest.fixture(scope="session")
def credit(prefect_harness: None) -> Scenario:
    return scenario()


@pytest.fixture
def credit_copy(credit: Scenario, tmp_path: Path) -> Iterator[Ledger]:
    """A ledger of its own holding the whole scenario (versions 1 and 2, three gap reports)."""
    ledger = Ledger.open(home=copy_home(tmp_path))
    yield ledger
    ledger.close()
