"""`govflow ui`: a real Prefect server, started and stopped as a user would, that gets the CLI's runs."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from govflow.cli.ui import ALREADY_RUNNING, healthy
from tests.flows.helpers import poll

ROOT = Path(__file__).resolve().parents[2]
GOVFLOW = str(Path(sys.executable).with_name("govflow"))
RUN_A_FLOW = """
import sys
from pathlib import Path
from govflow import settings
settings.configure(Path(sys.argv[1]))           # what every govflow command does first
from tests.flows.helpers import prepare
prepare(5)
"""

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env() -> dict[str, str]:
    """The user's environment: no test harness API, no Prefect home of the test session."""
    drop = ("PREFECT_API_URL", "PREFECT_HOME", "GOVFLOW_HOME", "GOVFLOW_DB_URL", "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE")
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("PREFECT__")}


def flow_runs(api: str, name: str) -> list[dict[str, Any]]:
    response = httpx.post(f"{api}/flow_runs/filter", json={"flows": {"name": {"any_": [name]}}}, timeout=10)
    response.raise_for_status()
    return list(response.json())


def task_runs(api: str, flow_run_id: str) -> list[dict[str, Any]]:
    response = httpx.post(f"{api}/task_runs/filter",
                          json={"flow_runs": {"id": {"any_": [flow_run_id]}}}, timeout=10)
    response.raise_for_status()
    return list(response.json())


def start_ui(home: Path, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen([GOVFLOW, "--home", str(home), "ui", "--port", str(port)], env=clean_env(), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_ui_runs_a_server_that_gets_the_runs_of_govflow_commands(tmp_path: Path) -> None:
    home, port = tmp_path / "home", free_port()
    ui = start_ui(home, port)
    api = f"http://127.0.0.1:{port}/api"
    try:
        state = poll(lambda: json.loads((home / "ui.json").read_text()) if (home / "ui.json").exists() else None,
                     timeout=120, what="govflow ui to write ui.json")
        assert (state["api_url"], state["ui_url"], state["pid"]) == (api, f"http://127.0.0.1:{port}", ui.pid)
        assert healthy(api)

        again = subprocess.run([GOVFLOW, "--home", str(home), "ui", "--port", str(free_port())], env=clean_env(),
                               capture_output=True, text=True, timeout=60)
        assert (again.returncode, again.stderr) == (2, "error: " + ALREADY_RUNNING.format(
            home=home, url=f"http://127.0.0.1:{port}", pid=ui.pid) + "\n")

        subprocess.run([sys.executable, "-c", RUN_A_FLOW, str(home)], env=clean_env(), cwd=ROOT, check=True,
                       timeout=180, capture_output=True)
        [run] = poll(lambda: [r for r in flow_runs(api, "prepare") if r["state_type"] == "COMPLETED"],
                     timeout=60, what="the flow run to reach the server")
        tasks = poll(lambda: (lambda found: found if len(found) == 3 else None)(task_runs(api, run["id"])),
                     timeout=60, what="its 3 task runs")
        assert sorted(t["name"].rsplit("-", 1)[0] for t in tasks) == ["clean", "count_rows", "load"]
    finally:
        ui.send_signal(signal.SIGTERM)
        out, err = ui.communicate(timeout=60)
    assert ui.returncode == 0, err
    assert f"Prefect UI: http://127.0.0.1:{port}" in out and f"PREFECT_API_URL={api}" in out
    assert out.rstrip().endswith("stopping the Prefect server ...")
    assert not (home / "ui.json").exists()
    assert not healthy(api)
    # the runs went into the govflow home's ledger as well: the ledger is the record
    assert (home / "ledger.db").exists()


def test_ui_on_a_taken_port_says_so(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ui = start_ui(home, port)
        out, err = ui.communicate(timeout=120)
    assert ui.returncode == 2
    assert err.startswith(f"error: the Prefect server did not start on 127.0.0.1:{port} (it exited with code ")
    assert err.endswith(f"is the port taken? Try --port. Its log: {home / 'ui-server.log'}\n")
    assert not (home / "ui.json").exists()
