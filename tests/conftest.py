"""Shared fixtures: a fresh ledger on SQLite and on PostgreSQL, and `ledger` over both.

PostgreSQL comes from ``GOVFLOW_TEST_PG_URL`` (default: the local server, user ``postgres``, trust
auth). Each test gets its own database ``gf_<random>``, dropped afterwards. Where the server cannot
be reached the PostgreSQL tests are skipped with the reason shown (``-ra``), except under CI
(``CI=true``), where they fail: a green CI must have run them.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

# Before anything imports Prefect: offline, quiet, and no ~/.prefect (a session directory instead).
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# Each test home would otherwise start its own reused Prefect server that outlives the test
# (govflow.prefect_server); tests/cli_robust tests that mode on purpose and stop what they start.
os.environ.setdefault("GOVFLOW_PREFECT", "ephemeral")
if "PREFECT_HOME" not in os.environ:
    os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="govflow-test-prefect-")
    atexit.register(shutil.rmtree, os.environ["PREFECT_HOME"], ignore_errors=True)

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from govflow.governance.ledger.engine import Ledger  # noqa: E402
from tests.pg_databases import Databases, url_of  # noqa: E402

PG_URL = os.environ.get("GOVFLOW_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_FIXTURES = {"pg_url", "pg_ledger"}
_pg_problem: list[str | None] = []  # probed once per session


def _admin_conninfo() -> str:
    """The server URL in the form psycopg takes (no SQLAlchemy driver suffix)."""
    return make_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False)


def _probe_pg() -> str | None:
    """None when the server answers, else why not."""
    if not _pg_problem:
        import psycopg

        try:
            with psycopg.connect(_admin_conninfo(), connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            _pg_problem.append(None)
        except Exception as e:  # noqa: BLE001 - any failure means "not reachable" here
            _pg_problem.append(str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__)
    return _pg_problem[0]


def require_pg() -> None:
    """Skip (fail under CI) when the test PostgreSQL server is unreachable."""
    problem = _probe_pg()
    if problem is None:
        return
    message = f"PostgreSQL not reachable at {PG_URL} (set GOVFLOW_TEST_PG_URL): {problem}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true requires PostgreSQL: {message}", pytrace=False)
    pytest.skip(message)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A test that asks for a PostgreSQL fixture is a PostgreSQL test, marked or not.
    for item in items:
        if PG_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)


_DATABASE = pytest.StashKey[str]()  # the URL of the one database a test's pg_url and pg_ledger share


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[Databases]:
    """This session's databases on the test server (made from a migrated template, dropped in the background)."""
    require_pg()
    databases = Databases(PG_URL, _admin_conninfo())
    yield databases
    databases.close()


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a fresh database ``gf_<random>`` on the test server; dropped after.

    Empty, unless ``pg_ledger`` was set up first: then it is that ledger's database.
    """
    require_pg()
    made = request.node.stash.get(_DATABASE, None)
    if made is not None:
        yield made
        return
    databases: Databases = request.getfixturevalue("pg_databases")
    name = databases.empty()
    request.node.stash[_DATABASE] = url_of(PG_URL, name)
    yield request.node.stash[_DATABASE]
    databases.drop_later(name)


@pytest.fixture
def sqlite_ledger(tmp_path: Path) -> Iterator[Ledger]:
    """A fresh ledger in the default place: SQLite in a new govflow home."""
    ledger = Ledger.open(home=tmp_path / "home")
    yield ledger
    ledger.close()


@pytest.fixture
def pg_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    """A fresh ledger in its own PostgreSQL database (its home, for artifacts, in tmp_path).

    A copy of the session's migrated template with its own genesis (tests/pg_databases.py); where the test
    set up ``pg_url`` first, that empty database migrated by `Ledger.open` as before.
    """
    require_pg()
    home, name = tmp_path / "home", None
    if _DATABASE not in request.node.stash:
        databases: Databases = request.getfixturevalue("pg_databases")
        name = databases.ledger(home)
        request.node.stash[_DATABASE] = url_of(PG_URL, name)
    ledger = Ledger.open(request.node.stash[_DATABASE], home=home)
    yield ledger
    ledger.close()
    if name is not None:
        databases.drop_later(name)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def ledger(request: pytest.FixtureRequest) -> Ledger:
    """The same test on both backends."""
    name = "sqlite_ledger" if request.param == "sqlite" else "pg_ledger"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One Prefect test harness (temporary database + API server) for the whole session.

    Every directory whose tests run flows asks for it (an autouse fixture in its conftest), so the
    session starts one harness, not one per directory.
    """
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield
