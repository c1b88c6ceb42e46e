from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from govflow import prefect_server


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A new govflow home; a Prefect server a test left running for it is stopped afterwards."""
    path = tmp_path / "home"
    yield path
    prefect_server.stop(path)
