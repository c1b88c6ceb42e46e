"""The examples run flows (in subprocesses, against the harness server): under the session's one Prefect harness (tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _prefect(prefect_harness: None) -> None:
    """Every test here may run a flow."""
