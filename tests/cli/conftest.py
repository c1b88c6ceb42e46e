"""CLI tests: the real `govflow` entry point, in this process (one Prefect harness for the session)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _prefect(prefect_harness: None) -> None:
    """Commands that run flows run under the session's one Prefect harness (tests/conftest.py)."""
