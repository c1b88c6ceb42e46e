"""What the Prefect UI shows of govflow runs, seen as a user sees it.

`govflow ui --port N` on a non-default port: its UI reaches its API (the UI's settings name that port,
and a headless browser shows the dashboard, not "Can't connect to Server API"). A gate's run, read back
from the Prefect API: a blocked gate ends in a failed state named Blocked with its reasons as the
message (never a green Completed), a pass Completed; each run is named after the version it gates and
tagged with govflow, the flow's kind, the system and the version.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from govflow.flows.gate import BLOCKED, gate_flow
from govflow.flows.recording import set_ledger
from govflow.flows.train import train_flow
from govflow.governance.ledger.engine import Ledger
from tests.flows.helpers import poll
from tests.flows.test_ui import free_port, start_ui
from tests.gate.conftest import DEFAULT, RELAXED
from tests.ledger.helpers import govflow

NO_API = "Can't connect to Server API"


@pytest.fixture
def recorder(sqlite_ledger: Ledger) -> Iterator[Ledger]:
    """One backend is enough here: what is checked is Prefect's view of the run."""
    set_ledger(sqlite_ledger)
    yield sqlite_ledger
    set_ledger(None)


def gate_runs(flow: str = "gate") -> list[Any]:
    """The flow runs of ``flow`` in the session's Prefect API, newest first."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        return list(client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[flow])),
                                          sort=FlowRunSort.START_TIME_DESC, limit=5))


@pytest.mark.slow
def test_a_blocked_gate_run_is_failed_named_and_tagged(recorder: Ledger) -> None:
    train_flow(str(DEFAULT))
    outcome = gate_flow(str(DEFAULT), "latest")  # the Python API still returns the outcome
    assert outcome.outcome == "block" and outcome.version == "credit-scoring:1"

    run = gate_runs()[0]
    assert run.state is not None
    assert (run.state.type.value, run.state.name) == ("FAILED", BLOCKED)
    assert run.state.message == "credit-scoring:1 BLOCKED: " + "; ".join(outcome.reasons)
    assert "fairness: equalized_odds_difference on personal_status_and_sex" in run.state.message
    assert run.name == "gate credit-scoring:1"
    assert set(run.tags) == {"govflow", "gate", "credit-scoring", "credit-scoring:1"}

    # the command line still says BLOCK and exits 1 (its Prefect run failing is no error of the command)
    done = govflow("run", "gate", "-c", str(DEFAULT), "--version", "1", home=recorder.home, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith("gate BLOCK for credit-scoring:1 (policy ")
    assert "  - fairness: equalized_odds_difference on personal_status_and_sex = " in done.stdout


@pytest.mark.slow
def test_a_passed_gate_run_is_completed_and_named(recorder: Ledger) -> None:
    train_flow(str(RELAXED))
    assert gate_flow(str(RELAXED), "1").outcome == "pass"

    run = gate_runs()[0]
    assert run.state is not None and run.state.type.value == "COMPLETED"
    assert run.name == "gate credit-scoring:1"
    assert set(run.tags) == {"govflow", "gate", "credit-scoring", "credit-scoring:1"}
    trained = gate_runs("train")[0]  # the training run before it is named after its system too
    assert trained.name == "train credit-scoring"
    assert set(trained.tags) == {"govflow", "train", "credit-scoring"}


def browser_text(url: str) -> str:
    """The text the Prefect UI at ``url`` shows once it has loaded (headless Chromium)."""
    from playwright.sync_api import sync_playwright

    from tests.web.dashboard.browser import ARGS, chromium

    executable = chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=ARGS, headless=True)
        try:
            page = browser.new_page()
            page.goto(f"{url}/dashboard", wait_until="networkidle", timeout=90_000)
            page.wait_for_timeout(2_000)  # the UI's health check runs after the first render
            return str(page.inner_text("body"))
        finally:
            browser.close()


@pytest.mark.slow
def test_ui_on_a_non_default_port_reaches_its_api(tmp_path: Path) -> None:
    home, port = tmp_path / "home", free_port()
    assert port != 4200
    ui = start_ui(home, port)
    url = f"http://127.0.0.1:{port}"
    try:
        poll(lambda: json.loads((home / "ui.json").read_text()) if (home / "ui.json").exists() else None,
             timeout=120, what="govflow ui to write ui.json")
        settings = httpx.get(f"{url}/ui-settings", timeout=10).json()
        assert settings["api_url"] == f"{url}/api"
        text = browser_text(url)
        assert NO_API not in text
        assert "Dashboard" in text
    finally:
        ui.send_signal(signal.SIGTERM)
        ui.communicate(timeout=60)
    assert ui.returncode == 0


@pytest.mark.slow
def test_the_reused_server_ui_reaches_its_api_on_its_free_port(tmp_path: Path) -> None:
    from govflow import prefect_server
    from govflow.settings import OFFLINE

    state = prefect_server.ensure(tmp_path / "home", OFFLINE, timeout=120)
    try:
        settings = httpx.get(f"{state.ui_url}/ui-settings", timeout=10).json()
        assert settings["api_url"] == state.api_url
        assert not state.api_url.endswith(":4200/api")
    finally:
        prefect_server.stop(tmp_path / "home")
