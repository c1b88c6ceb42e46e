"""The reused local Prefect server: started on first need, shown, reused, stopped; a failed start is exit 2."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

from govflow import prefect_server
from tests.cli_robust.helpers import CREDIT, govflow


def test_start_status_stop(home: Path) -> None:
    none = govflow(home, "server", "status")
    assert none.returncode == 1
    assert none.stdout.strip() == (f"no Prefect server is running for {home}; "
                                   "the next command that runs a flow starts one")
    started = govflow(home, "server", "start")
    assert started.returncode == 0, started.stderr
    found = re.match(rf"started Prefect server for {re.escape(str(home))} at (http://127\.0\.0\.1:\d+/api) \(pid (\d+);",
                     started.stdout)
    assert found, started.stdout
    api_url, pid = found[1], int(found[2])
    assert json.loads((home / "server.json").read_text())["pid"] == pid
    status = govflow(home, "server", "status")
    assert status.returncode == 0
    assert f"pid {pid}, {api_url}, answering" in status.stdout
    ui = govflow(home, "ui")  # the reused server already serves the UI: no second server on its database
    assert ui.returncode == 0 and ui.stdout.startswith(f"Prefect UI: {api_url.removesuffix('/api')}\n"), ui.stdout
    again = govflow(home, "server", "start")
    assert again.stdout.startswith(f"already running: Prefect server for {home} at {api_url} (pid {pid};")
    stopped = govflow(home, "server", "stop")
    assert stopped.stdout.splitlines()[0] == f"stopped the Prefect server for {home} (pid {pid})"
    assert not prefect_server.alive(pid) and not prefect_server.healthy(api_url)
    assert govflow(home, "server", "status").returncode == 1


def test_flow_commands_start_then_reuse_one_server_and_stay_quiet(home: Path) -> None:
    train = govflow(home, "run", "train", "-c", str(CREDIT))
    assert train.returncode == 0, train.stderr
    assert train.stderr == ""  # no library log line (GX's temporary docs folder), no Prefect home warning
    state = prefect_server.read_state(home)
    assert state is not None and prefect_server.healthy(state.api_url)
    gate = govflow(home, "run", "gate", "-c", str(CREDIT), "--version", "1")
    assert gate.returncode in (0, 1), gate.stderr
    assert gate.stderr == ""
    assert prefect_server.read_state(home) == state  # reused, not restarted
    request = urllib.request.Request(f"{state.api_url}/flow_runs/filter", data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        runs = json.loads(response.read())
    assert len(runs) >= 2  # both commands' flows ran against the reused server


def test_a_server_that_does_not_answer_in_time_is_exit_2_naming_the_setting(home: Path) -> None:
    result = govflow(home, "run", "train", "-c", str(CREDIT), GOVFLOW_PREFECT_START_TIMEOUT="0.5")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        f"error: the Prefect server govflow started for {home} did not answer within 0.5 s (log: "
        f"{home / 'server.log'}); on a busy machine raise GOVFLOW_PREFECT_START_TIMEOUT (seconds), or set "
        "PREFECT_API_URL to a Prefect server of your own")
    assert not (home / "server.json").exists()  # and the server it started was stopped
    assert govflow(home, "server", "status").returncode == 1


def test_an_unknown_prefect_mode_is_exit_2(home: Path) -> None:
    result = govflow(home, "run", "train", "-c", str(CREDIT), GOVFLOW_PREFECT="embedded")
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: GOVFLOW_PREFECT='embedded' is not a Prefect mode govflow knows: "
                                     "use server (the default) or ephemeral")
