"""The warm gate runner beside the reused server (#17 item 2): `run gate` through it prints, exits and
records exactly what the gate run in the command's own process does; status shows it, stop ends it,
and it does not outlive its server."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from govflow import prefect_runner, prefect_server
from tests.cli_robust.helpers import CREDIT, ROOT, govflow, poll

RELAXED = ROOT / "tests" / "cli" / "credit-relaxed.govflow.yaml"  # a policy under which version 1 passes


@pytest.fixture(scope="module")
def warm_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A home with version 1 trained (which starts the server and its runner), the runner ready."""
    home = tmp_path_factory.mktemp("warm") / "home"
    try:
        train = govflow(home, "run", "train", "-c", str(RELAXED))
        assert train.returncode == 0, train.stderr
        poll(lambda: (lambda s: s is not None and s.ready)(prefect_runner.read_state(home)), 900, "the runner to be ready")
        yield home
    finally:
        prefect_server.stop(home)


def served_runs(home: Path) -> int:
    """The flow runs the runner served (its log has a line ``flow run ID: what it printed`` for each)."""
    return len(re.findall(r" flow run [0-9a-f-]+: ", (home / prefect_runner.LOG_FILE).read_text()))


def audit_kinds(home: Path, after: int) -> tuple[list[tuple[str, str]], int]:
    """The (event type, step name) of the audit entries after ``after``, and the last seq."""
    with sqlite3.connect(home / "ledger.db") as conn:
        rows = conn.execute("SELECT seq, event_type, subject FROM audit_log WHERE seq > ? ORDER BY seq", (after,)).fetchall()
    return [(event, " ".join(subject.split()[:2])) for _, event, subject in rows], (rows[-1][0] if rows else after)


def runner_current(home: Path) -> None:
    """The runner is ready and runs the code on disk (restarted by `server start` after an edit, which
    happens when tests run in a tree being edited)."""
    state = prefect_runner.read_state(home)
    if state is None or not (state.ready and prefect_runner.current(state)):
        govflow(home, "server", "start")
        poll(lambda: (lambda s: s is not None and s.ready and prefect_runner.current(s))(prefect_runner.read_state(home)),
             900, "the runner to be ready")


def both_ways(home: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    """The command in its own process, then through the runner (which is checked to have served it)."""
    own = govflow(home, *args, GOVFLOW_WARM_RUNNER="0")
    runner_current(home)
    served = served_runs(home)
    warm = govflow(home, *args)
    assert served_runs(home) == served + 1, (home / prefect_runner.LOG_FILE).read_text()[-2000:]
    return own, warm


def test_a_passing_gate_prints_exits_and_records_the_same(warm_home: Path) -> None:
    _, start = audit_kinds(warm_home, 0)
    own = govflow(warm_home, "run", "gate", "-c", str(RELAXED), "--version", "1", GOVFLOW_WARM_RUNNER="0")
    own_kinds, middle = audit_kinds(warm_home, start)
    runner_current(warm_home)
    served = served_runs(warm_home)
    warm = govflow(warm_home, "run", "gate", "-c", str(RELAXED), "--version", "1")
    warm_kinds, _ = audit_kinds(warm_home, middle)
    assert served_runs(warm_home) == served + 1
    assert own.returncode == warm.returncode == 0, (own.stderr, warm.stderr)
    assert own.stdout.startswith("gate PASS for credit-scoring:1 (policy ")
    assert (warm.stdout, warm.stderr) == (own.stdout, own.stderr)
    assert warm_kinds == own_kinds and ("flow.completed", "flow gate") in own_kinds
    own_json, warm_json = both_ways(warm_home, "run", "gate", "-c", str(RELAXED), "--version", "1", "--json")
    assert (warm_json.returncode, warm_json.stdout, warm_json.stderr) == (own_json.returncode, own_json.stdout, own_json.stderr)
    assert '"checks": [' in own_json.stdout


def test_a_blocked_gate_and_a_refused_version_exit_the_same(warm_home: Path) -> None:
    approve = govflow(warm_home, "policy", "approve", "-c", str(CREDIT), "--as", "Ravi Patel", "--role", "risk_officer",
                      "--reason", "the default bounds")
    assert approve.returncode == 0, approve.stderr
    own, warm = both_ways(warm_home, "run", "gate", "-c", str(CREDIT), "--version", "1")
    assert own.returncode == warm.returncode == 1
    assert own.stdout.startswith("gate BLOCK for credit-scoring:1") and "equalized_odds_difference" in own.stdout
    assert (warm.stdout, warm.stderr) == (own.stdout, own.stderr)
    own, warm = both_ways(warm_home, "run", "gate", "-c", str(CREDIT), "--version", "99")
    assert own.returncode == warm.returncode == 2
    assert own.stderr == "error: credit-scoring has no version 99 (versions: 1)\n"
    assert (warm.stdout, warm.stderr) == (own.stdout, own.stderr)


def test_status_shows_the_runner_and_verbose_or_other_settings_run_in_process(warm_home: Path) -> None:
    state = prefect_runner.read_state(warm_home)
    assert state is not None
    status = govflow(warm_home, "server", "status")
    assert f"warm gate runner: pid {state.pid}, ready since " in status.stdout, status.stdout
    served = served_runs(warm_home)
    for args in (("--verbose",), ("--db", f"sqlite:///{warm_home / 'ledger.db'}")):  # the same ledger, named
        done = govflow(warm_home, "run", "gate", "-c", str(CREDIT), "--version", "1", *args)
        assert done.returncode in (0, 1) and "gate " in done.stdout + done.stderr, done.stderr
    assert served_runs(warm_home) == served  # neither went through the runner: it runs with other settings
    assert prefect_runner.read_state(warm_home) == state  # and it stays for the commands it serves


def test_stop_ends_the_runner_and_a_runner_ends_with_its_server(tmp_path: Path) -> None:
    home = tmp_path / "home"
    try:
        started = govflow(home, "server", "start")
        assert started.returncode == 0, started.stderr
        runner = poll(lambda: prefect_runner.read_state(home), 60, "the runner to be recorded")
        stopped = govflow(home, "server", "stop")
        assert stopped.stdout.splitlines()[1] == f"stopped its warm gate runner (pid {runner.pid})", stopped.stdout
        assert not prefect_runner.alive(runner.pid)
        govflow(home, "server", "start")
        server = prefect_server.read_state(home)
        runner = poll(lambda: prefect_runner.read_state(home), 60, "the runner to be recorded")
        assert server is not None
        os.killpg(server.pid, signal.SIGKILL)  # the server dies without a word: the runner ends by itself
        poll(lambda: not prefect_runner.alive(runner.pid), 300, "the runner of a dead server to end")
    finally:
        prefect_server.stop(home)
