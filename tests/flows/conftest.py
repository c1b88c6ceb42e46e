"""Flow tests: one Prefect test harness (temporary database + API server) for the whole session.

`recorder` points govflow's recording at a fresh ledger (both backends, from ``ledger``) for one
test and detaches it, and any OpenLineage emitter, afterwards.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from govflow.flows.lineage import uninstall
from govflow.flows.recording import set_ledger
from govflow.governance.ledger.engine import Ledger

OPENLINEAGE_ENV = ("GOVFLOW_OPENLINEAGE", "GOVFLOW_OPENLINEAGE_FILE", "GOVFLOW_OPENLINEAGE_URL")


@pytest.fixture(autouse=True, scope="session")
def _prefect(prefect_harness: None) -> None:
    """Flow tests run under the session's one Prefect harness (tests/conftest.py)."""


@pytest.fixture(autouse=True)
def _no_lineage_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in OPENLINEAGE_ENV:
        monkeypatch.delenv(name, raising=False)
    yield
    uninstall()


@pytest.fixture
def recorder(ledger: Ledger) -> Iterator[Ledger]:
    """The ledger that govflow's @task/@flow record into, for this test."""
    set_ledger(ledger)
    yield ledger
    set_ledger(None)


@pytest.fixture
def sqlite_recorder(sqlite_ledger: Ledger) -> Iterator[Ledger]:
    set_ledger(sqlite_ledger)
    yield sqlite_ledger
    set_ledger(None)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def module_ledger(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    """A ledger shared by the tests of one module (for expensive set-ups), on both backends."""
    home = tmp_path_factory.mktemp("home")
    if request.param == "sqlite":
        ledger = Ledger.open(home=home)
        yield ledger
        ledger.close()
        return
    import psycopg
    from sqlalchemy.engine import make_url

    from tests.conftest import PG_URL, _admin_conninfo, require_pg

    require_pg()
    name = f"gf_{secrets.token_hex(6)}"
    with psycopg.connect(_admin_conninfo(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    ledger = Ledger.open(make_url(PG_URL).set(database=name).render_as_string(hide_password=False), home=home)
    try:
        yield ledger
    finally:
        ledger.close()
        with psycopg.connect(_admin_conninfo(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
