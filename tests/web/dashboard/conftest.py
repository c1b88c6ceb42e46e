"""Dashboard fixtures: a credit-scoring system in production, and a clock after its predictions."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from govflow import canonical as canon
from govflow.governance.ledger.engine import Ledger
from govflow.governance.registry.versions import VersionRef
from tests.web.dashboard import scenario


@pytest.fixture
def production(sqlite_ledger: Ledger) -> VersionRef:
    version = scenario.register(sqlite_ledger)
    scenario.to_production(sqlite_ledger, version)
    return version


@pytest.fixture
def start() -> datetime:
    """Midnight UTC after the promotion: every prediction logged from here is served in production."""
    now = canon.utc_now()
    return now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
