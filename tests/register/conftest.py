"""`govflow register` tests: models fitted here on German credit, registered and gated through the CLI."""

from __future__ import annotations

import pytest

from .helpers import Files


@pytest.fixture(autouse=True, scope="session")
def _prefect(prefect_harness: None) -> None:
    """The register and gate flows run under the session's one Prefect harness."""


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    """Training and held-out files, the config, and one fitted model saved with skops and with joblib."""
    return Files(tmp_path_factory.mktemp("register"))
