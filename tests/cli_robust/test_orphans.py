"""No orphans: after `kill -9` of a govflow command, no process it started is left running.

The one exception is the server started on purpose to be reused, which `govflow server status` shows.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil

from govflow import prefect_runner, prefect_server
from tests.cli_robust.helpers import (
    CREDIT,
    TOKEN_ENV,
    command_token,
    govflow,
    marked,
    poll,
    prefect_children,
    start_govflow,
    watchers,
)


def test_kill_9_in_ephemeral_mode_leaves_no_prefect_server(home: Path) -> None:
    command = start_govflow(home, "run", "train", "-c", str(CREDIT), GOVFLOW_PREFECT="ephemeral")
    try:
        servers = poll(lambda: prefect_children(command.pid), 600, "the command's ephemeral Prefect server")
        token = command_token(command.pid)
        assert token is not None and {s.pid for s in servers} <= {p.pid for p in marked(token)}
    finally:
        os.kill(command.pid, signal.SIGKILL)
        command.wait()
    poll(lambda: not marked(token) and not watchers(token), 60, "the processes of the killed command to end")
    assert not any(s.is_running() and s.status() != psutil.STATUS_ZOMBIE for s in servers)


def test_kill_9_leaves_only_the_reused_server_which_status_shows(home: Path) -> None:
    command = start_govflow(home, "run", "train", "-c", str(CREDIT))
    try:
        state = poll(lambda: prefect_server.read_state(home), 600, "the reused server to be recorded")
        token = poll(lambda: command_token(command.pid), 600, "the command's token")
    finally:
        os.kill(command.pid, signal.SIGKILL)
        command.wait()
    poll(lambda: not marked(token) and not watchers(token), 60, "the processes of the killed command to end")
    assert prefect_server.alive(state.pid)  # started on purpose for reuse, in its own session
    assert TOKEN_ENV not in psutil.Process(state.pid).environ()
    status = poll(lambda: (lambda r: r if "answering," in r.stdout else None)(govflow(home, "server", "status")),
                  600, "the server to answer")
    assert f"pid {state.pid}, {state.api_url}, answering" in status.stdout
    runner = prefect_runner.read_state(home)  # the warm gate runner, if the command got to start it: reused too
    if runner is not None and prefect_runner.alive(runner.pid):
        assert TOKEN_ENV not in psutil.Process(runner.pid).environ()
        assert f"warm gate runner: pid {runner.pid}," in status.stdout
