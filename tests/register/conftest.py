"""`govflow register` tests: models fitted here on German credit, registered and gated through the CLI."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _prefect(prefect_harness: None) -> None:
    """The register and gate flows run under the session's one Prefect harness."""
