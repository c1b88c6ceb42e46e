"""A `run gate` interrupted while its gate runs (#17 item 3): through the warm runner and in its own process.

The gate is caught mid-way on purpose with the team's own model (`model.factory`): a logistic regression
whose predictions wait while a file exists, so each signal lands while the real checks run. Then:
``kill -9`` leaves no process of the command and the runner records the gate whole; SIGINT (Ctrl-C)
and SIGTERM cancel the flow run in the runner, or stop the gate in the command's own process, with one
line saying what became of it, exit 128 + the signal, no decision, and a ledger that verifies.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from govflow import prefect_runner, prefect_server
from tests.cli_robust.helpers import ROOT, command_token, govflow, marked, poll, start_govflow, watchers
from tests.cli_robust.test_warm_runner import served_runs

HELD_MODEL = '''
import time
from pathlib import Path

from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import make_column_selector, make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


class HeldModel(ClassifierMixin, BaseEstimator):
    """A logistic regression whose predictions wait while the file ``hold`` exists (at most 300 s);
    ``<hold>.reached`` tells that one waited."""

    def __init__(self, hold=""):
        self.hold = hold

    def fit(self, X, y):
        prep = make_column_transformer((OneHotEncoder(handle_unknown="ignore"), make_column_selector(dtype_exclude="number")),
                                       (StandardScaler(), make_column_selector(dtype_include="number")))
        self.model_ = make_pipeline(prep, LogisticRegression(max_iter=1000)).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def _wait(self):
        hold, deadline = Path(self.hold), time.monotonic() + 300
        if hold.exists():
            Path(f"{self.hold}.reached").touch()
        while hold.exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def predict_proba(self, X):
        self._wait()
        return self.model_.predict_proba(X)

    def predict(self, X):
        self._wait()
        return self.model_.predict(X)


def build(hold=""):
    return HeldModel(hold)
'''


@dataclass(frozen=True)
class Held:
    home: Path
    config: Path
    hold: Path
    pythonpath: str  # the model's folder: the runner unpickles the model too

    def gate(self, **extra: str) -> subprocess.Popen[str]:
        """`run gate` of version 1, returned once its gate waits in the model's predictions."""
        self.hold.touch()
        reached = Path(f"{self.hold}.reached")
        reached.unlink(missing_ok=True)
        command = start_govflow(self.home, "run", "gate", "-c", str(self.config), "--version", "1", PYTHONPATH=self.pythonpath, **extra)
        poll(lambda: reached.exists() or command.poll() is not None, 600, "the gate to reach the model")
        assert command.poll() is None, command.communicate()[0]
        return command


@pytest.fixture(scope="module")
def held(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Held]:
    """A home with version 1 of the held model trained (which starts the server and its runner)."""
    folder = tmp_path_factory.mktemp("held")
    (folder / "held_model.py").write_text(HELD_MODEL, encoding="utf-8")
    hold = folder / "hold"
    config = folder / "govflow.yaml"
    relaxed = (ROOT / "tests" / "cli" / "credit-relaxed.govflow.yaml").read_text()
    config.write_text(relaxed.replace("../../data/german_credit.csv", str(ROOT / "data" / "german_credit.csv"))
                      .replace("  estimator: logistic_regression", f'  factory: "held_model:build"\n  params: {{hold: "{hold}"}}'))
    setup = Held(home=folder / "home", config=config, hold=hold, pythonpath=str(folder))
    try:
        train = govflow(setup.home, "run", "train", "-c", str(config), PYTHONPATH=setup.pythonpath)
        assert train.returncode == 0, train.stderr
        yield setup
    finally:
        hold.unlink(missing_ok=True)
        prefect_server.stop(setup.home)


def decisions(home: Path) -> int:
    with sqlite3.connect(home / "ledger.db") as conn:
        return int(conn.execute("SELECT count(*) FROM decisions").fetchone()[0])


def last_decision_in_one_transaction(home: Path) -> bool:
    """The latest decision landed under the same audit entry as the run record of the step that made it."""
    with sqlite3.connect(home / "ledger.db") as conn:
        row = conn.execute("SELECT d.audit_seq, r.audit_seq FROM decisions d JOIN runs r ON r.id = d.run_id "
                           "ORDER BY d.audit_seq DESC LIMIT 1").fetchone()
    return row is not None and row[0] == row[1]


def verified(home: Path) -> None:
    result = govflow(home, "verify")
    assert result.returncode == 0, result.stdout + result.stderr


def flow_run_state(home: Path, run_id: str) -> str:
    state = prefect_server.read_state(home)
    assert state is not None
    with urllib.request.urlopen(f"{state.api_url}/flow_runs/{run_id}", timeout=30) as response:
        return str(json.loads(response.read())["state"]["type"])


def runner_ready(held: Held) -> int:
    """The runner's pid, once it is ready and runs the code on disk (restarted by `server start` after an
    edit of the tree, with the model's folder on its path)."""
    def current() -> prefect_runner.RunnerState | None:
        state = prefect_runner.read_state(held.home)
        return state if state is not None and state.ready and prefect_runner.current(state) else None

    if current() is None:
        govflow(held.home, "server", "start", PYTHONPATH=held.pythonpath)
    return int(poll(current, 900, "the runner to be ready").pid)


def test_kill_9_leaves_no_process_and_the_runner_records_the_gate_whole(held: Held) -> None:
    runner = runner_ready(held)
    served, before = served_runs(held.home), decisions(held.home)
    command = held.gate()
    try:
        token = poll(lambda: command_token(command.pid), 60, "the command's token")
    finally:
        os.kill(command.pid, signal.SIGKILL)
        command.wait()
        held.hold.unlink()
    poll(lambda: not marked(token) and not watchers(token), 60, "the processes of the killed command to end")
    poll(lambda: served_runs(held.home) == served + 1, 600, "the runner to finish the gate run")
    last = (held.home / prefect_runner.LOG_FILE).read_text().splitlines()[-1]
    found = re.search(r" flow run ([0-9a-f-]+): gate pass for credit-scoring:1$", last)
    assert found, last
    assert decisions(held.home) == before + 1 and flow_run_state(held.home, found[1]) == "COMPLETED"
    assert last_decision_in_one_transaction(held.home)
    trace = govflow(held.home, "trace", "run", found[1])
    assert trace.returncode == 0 and "completed" in trace.stdout, trace.stdout + trace.stderr
    verified(held.home)
    status = govflow(held.home, "server", "status")
    assert f"warm gate runner: pid {runner}, ready" in status.stdout, status.stdout
    assert "GOVFLOW_COMMAND_TOKEN" not in psutil.Process(runner).environ()  # no watcher of a command ends it
    again = govflow(held.home, "run", "gate", "-c", str(held.config), "--version", "1", PYTHONPATH=held.pythonpath)
    assert again.returncode == 0 and again.stdout.startswith("gate PASS for credit-scoring:1"), again.stderr
    assert served_runs(held.home) == served + 2  # through the same runner


CANCELLED = ("interrupted ({why}): the warm runner cancelled the gate run {run}; the ledger records it as failed, "
             "so no decision of it counts (govflow trace run {run} shows what the ledger holds of it); run the gate again\n")


@pytest.mark.parametrize(("sig", "why"), [(signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM")])
def test_an_interrupt_cancels_the_flow_run_in_the_runner(held: Held, sig: int, why: str) -> None:
    runner = runner_ready(held)
    before = decisions(held.home)
    command = held.gate()
    try:
        os.killpg(command.pid, sig)  # Ctrl-C goes to the terminal's whole process group
        output, _ = command.communicate(timeout=300)
    finally:
        held.hold.unlink()
    assert command.returncode == 128 + sig, output
    found = re.search(r"the gate run ([0-9a-f-]{36});", output)
    assert found and output == CANCELLED.format(why=why, run=found[1])
    assert flow_run_state(held.home, found[1]) == "CANCELLED"
    assert decisions(held.home) == before  # stopped in its checks, before any decision
    trace = govflow(held.home, "trace", "run", found[1])
    assert trace.returncode == 0 and "failed" in trace.stdout, trace.stdout + trace.stderr
    verified(held.home)
    assert prefect_runner.alive(runner)  # the runner stays, for the next gate


def test_a_cancel_from_the_prefect_ui_stops_the_gate_and_the_command_says_so(held: Held) -> None:
    runner_ready(held)
    server = prefect_server.read_state(held.home)
    assert server is not None
    command = held.gate()
    try:
        running = api(server.api_url, "flow_runs/filter", {"flow_runs": {"state": {"type": {"any_": ["RUNNING"]}}}})
        assert len(running) == 1, running
        run = running[0]["id"]  # as the UI's Cancel button does:
        assert api(server.api_url, f"flow_runs/{run}/set_state", {"state": {"type": "CANCELLING"}})["status"] == "ACCEPT"
        output, _ = command.communicate(timeout=300)
    finally:
        held.hold.unlink()
    assert command.returncode == 1, output
    assert output == (f"error: the gate run {run} was cancelled while it ran (from the Prefect UI or its API); the "
                      "ledger records it as failed, so no decision of it counts; run the gate again\n")
    assert flow_run_state(held.home, run) == "CANCELLED"


def test_an_interrupt_before_the_runner_took_the_run_cancels_it_unstarted(held: Held) -> None:
    runner = runner_ready(held)
    server = prefect_server.read_state(held.home)
    assert server is not None
    scheduled = {"flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}}
    os.kill(runner, signal.SIGSTOP)  # a runner busy elsewhere: the run waits for it
    try:
        command = start_govflow(held.home, "run", "gate", "-c", str(held.config), "--version", "1",
                                PYTHONPATH=held.pythonpath)
        waiting = poll(lambda: api(server.api_url, "flow_runs/filter", scheduled), 600, "the command's flow run")
        os.killpg(command.pid, signal.SIGINT)
        output, _ = command.communicate(timeout=300)
    finally:
        os.kill(runner, signal.SIGCONT)
    run = waiting[0]["id"]
    assert command.returncode == 130, output
    assert output == (f"interrupted (Ctrl-C): cancelled the gate run {run} before the warm runner started it; "
                      "nothing was recorded\n")
    assert flow_run_state(held.home, run) == "CANCELLED"
    served = served_runs(held.home)
    again = govflow(held.home, "run", "gate", "-c", str(held.config), "--version", "1", PYTHONPATH=held.pythonpath)
    assert again.returncode == 0, again.stderr
    assert served_runs(held.home) == served + 1  # the runner took the next run, not the cancelled one


def api(api_url: str, path: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(f"{api_url}/{path}", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


IN_PROCESS = ("interrupted ({why}): the gate stopped before it finished; a gate run that did not complete is "
              "recorded as such and no decision of it counts; run the gate again\n")


@pytest.mark.parametrize(("sig", "why"), [(signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM")])
def test_an_interrupt_of_a_gate_in_the_commands_own_process(held: Held, sig: int, why: str) -> None:
    before = decisions(held.home)
    command = held.gate(GOVFLOW_WARM_RUNNER="0")
    try:
        os.killpg(command.pid, sig)
        output, _ = command.communicate(timeout=300)
    finally:
        held.hold.unlink()
    assert command.returncode == 128 + sig, output
    assert output == IN_PROCESS.format(why=why)
    assert decisions(held.home) == before
    verified(held.home)
