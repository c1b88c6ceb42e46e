"""deployments/prefect.yaml deployed for real: a local `prefect server start`, a process worker, a
scheduled monitoring run and an event-triggered incident response run, seen through the API.

The monitoring deployment's cron is swapped for a one-minute interval whose first run comes about 25 s
after the test starts deploying (the test does not wait for 6 am); everything else is deployed as
written. Offline: telemetry off, a free port, Prefect's home in tmp.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml

from govflow.governance.ledger.engine import Ledger
from govflow.governance.monitoring import incidents

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
T = TypeVar("T")
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def poll(fetch: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = fetch()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.5)


@contextmanager
def started(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A background process, stopped with SIGTERM (then SIGKILL after 20 s)."""
    with open(log, "wb") as out:
        process = subprocess.Popen(args, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def offline_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "GOVFLOW_"))}
    env.update(DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_SERVER_UI_V2_ENABLED="false",
               PREFECT_HOME=str(tmp / "prefect-home"), PREFECT_LOGGING_LEVEL="WARNING", **extra)
    return env


def deployment_file(tmp: Path) -> Path:
    spec = yaml.safe_load((REPO / "deployments" / "prefect.yaml").read_text(encoding="utf-8"))
    for deployment in spec["deployments"]:
        if deployment["entrypoint"].endswith(":monitor_flow"):
            # One run a minute, the first about 25 s from now (deploying takes 5-15 s): one scheduled run soon.
            anchor = datetime.now(UTC) + timedelta(seconds=25)
            deployment["schedules"] = [{"interval": 60, "anchor_date": anchor.isoformat(), "timezone": "UTC",
                                        "active": True}]
    path = tmp / "prefect.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def runs_of(api: str, flow: str, deployment: str, state: str = "COMPLETED") -> list[dict[str, Any]]:
    found = httpx.get(f"{api}/deployments/name/{flow}/{deployment}", timeout=10).json()
    body = {"flow_runs": {"deployment_id": {"any_": [found["id"]]}, "state": {"type": {"any_": [state]}}}, "limit": 5}
    return list(httpx.post(f"{api}/flow_runs/filter", json=body, timeout=10).json())


def test_scheduled_and_event_triggered_runs_on_a_local_server(tmp_path: Path) -> None:
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    server_env = offline_env(tmp_path, PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS="2")
    client_env = offline_env(tmp_path, PREFECT_API_URL=api)
    home = tmp_path / "govflow-home"
    with started([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)], server_env,
                 tmp_path / "server.log"):
        poll(lambda: _healthy(api), 90, "the Prefect server")
        subprocess.run([str(BIN / "prefect"), "work-pool", "create", "govflow", "--type", "process"], env=client_env,
                       cwd=REPO, check=True, capture_output=True, timeout=60)
        deployed = subprocess.run([str(BIN / "prefect"), "--no-prompt", "deploy", "--all", "--prefect-file",
                                   str(deployment_file(tmp_path))], env=client_env, cwd=REPO, capture_output=True,
                                  text=True, timeout=120)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr

        ledger = Ledger.open(home=home)
        opened = incidents.open_incident(ledger, system="employment-screening", kind="malfunction", by="tests",
                                         summary="alert raised by monitoring (test)")
        ledger.close()
        worker_env = {**client_env, "GOVFLOW_HOME": str(home), "PREFECT_WORKER_QUERY_SECONDS": "1"}
        with started([str(BIN / "prefect"), "worker", "start", "--pool", "govflow", "--type", "process"], worker_env,
                     tmp_path / "worker.log"):
            scheduled = poll(lambda: runs_of(api, "monitor", "monitor-employment-screening"), 150,
                             "a scheduled monitoring run to complete")
            assert scheduled[0]["parameters"]["config_path"] == "data/employment.govflow.yaml"

            emit = ("from govflow.flows.monitor import emit_alert; "
                    f"emit_alert('data/employment.govflow.yaml', 'employment-screening', '{opened.id}', "
                    "'employment-screening:1', 'malfunction', 'medium')")
            subprocess.run([sys.executable, "-c", emit], env=client_env, cwd=REPO, check=True, timeout=60)
            triggered = poll(lambda: runs_of(api, "incident", "incident-employment-screening"), 150,
                             "the incident response run the alert event triggers")
            assert triggered[0]["parameters"]["incident_id"] == opened.id

    ledger = Ledger.open(home=home)
    with ledger.read() as conn:
        actions = [e["action"] for e in incidents.get(conn, opened.id).events]
    ledger.close()
    assert actions[:4] == ["opened", "response_plan", "frozen", "no_version_implicated"]  # the plan it used first
    assert "documents_drafted" in actions


def _healthy(api: str) -> bool:
    try:
        return httpx.get(f"{api}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
