"""Serving fixtures: a ledger with a credit-scoring version in production, and an in-process client.

`served` runs on SQLite and PostgreSQL alike (it builds on the root conftest's ``ledger``);
`sqlite_served` on SQLite only. `client` is a Starlette TestClient over `create_app` (the lifespan
runs, so the group-commit writer thread starts and stops as under uvicorn), calling from 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from govflow.governance.ledger.engine import Ledger
from govflow.governance.registry.versions import VersionRef
from govflow.web.app import create_app
from tests.web.serving.helpers import put_in_production


@pytest.fixture
def served(ledger: Ledger) -> tuple[Ledger, VersionRef]:
    return ledger, put_in_production(ledger)


@pytest.fixture
def sqlite_served(sqlite_ledger: Ledger) -> tuple[Ledger, VersionRef]:
    return sqlite_ledger, put_in_production(sqlite_ledger)


@pytest.fixture
def client(sqlite_served: tuple[Ledger, VersionRef]) -> Iterator[TestClient]:
    with TestClient(create_app(sqlite_served[0]), client=("127.0.0.1", 50000)) as test_client:
        yield test_client
