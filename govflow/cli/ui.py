"""`govflow ui`: a local Prefect server, offline, whose run history shows every govflow run.

Starts ``prefect server start`` (analytics off, the V1 UI, no promotional content: V2 fetches a
remote config even with analytics off), waits for ``/api/health``, and writes its API URL to
``<home>/ui.json``. While that file names a healthy server, every later `govflow` command sends its
runs there (`govflow.settings.configure`), so they appear in the UI with their govflow artifacts.
Runs until Ctrl-C or SIGTERM, then stops the server and removes ``ui.json``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from govflow import canonical as canon
from govflow.errors import GovflowError, InputError

STATE_FILE = "ui.json"
LOG_FILE = "ui-server.log"
ALREADY_RUNNING = "govflow ui is already running for {home} at {url} (pid {pid}); stop it first, or use another --home"
NO_START = ("the Prefect server did not start on {host}:{port} ({reason}); is the port taken? Try --port. "
            "Its log: {log}")
HOWTO = """Prefect UI: {ui}
API: {api}  (recorded in {state})

While this runs, govflow commands using the govflow home {home} send their runs here:
  govflow --home {home} run train -c govflow.yaml
and the run history, with each run's govflow record attached as artifacts, is at {ui}/runs.
Other Prefect clients: PREFECT_API_URL={api}
Stop with Ctrl-C (the server stops and {state} is removed)."""
REUSED = """Prefect UI: {ui}
The Prefect server govflow runs for {home} (pid {pid}) already serves it: every govflow run of this
home shows at {ui}/runs. Other Prefect clients: PREFECT_API_URL={api}
(govflow server status shows it; govflow server stop stops it, then govflow ui starts one of its own)."""


class ServerStartError(GovflowError, RuntimeError):
    """The Prefect server could not be started (exit 2: usually a taken port)."""

    exit_code = 2


@dataclass(frozen=True)
class UiServer:
    process: subprocess.Popen[bytes]
    host: str
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"


def server_env(home: Path, host: str = "127.0.0.1", port: int = 4200) -> dict[str, str]:
    """The server's environment: offline, its database in the govflow home's Prefect home, and the
    API URL its UI calls set to this host and port (left unset, the UI calls port 4200 whatever
    ``--port`` says, and shows "Can't connect to Server API")."""
    from govflow.prefect_server import ui_api_env
    from govflow.settings import OFFLINE

    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update({k: v for k, v in OFFLINE.items() if k != "PREFECT_LOGGING_LEVEL"})
    env.setdefault("PREFECT_HOME", str(home / "prefect"))
    env.update(ui_api_env(host, port))
    return env


def healthy(api_url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _check_not_running(home: Path) -> None:
    state = home / STATE_FILE
    if not state.exists():
        return
    try:
        info = json.loads(state.read_text())
    except (OSError, ValueError):
        return
    if healthy(str(info.get("api_url"))):
        raise InputError(ALREADY_RUNNING.format(home=home, url=info.get("ui_url"), pid=info.get("pid")))


def start(home: Path, host: str = "127.0.0.1", port: int = 4200, timeout: float = 90.0,
          cancelled: Callable[[], bool] = lambda: False) -> UiServer:
    """Start the server and wait until it answers ``/api/health`` (or ``cancelled()`` says stop)."""
    _check_not_running(home)
    home.mkdir(parents=True, exist_ok=True)
    log = home / LOG_FILE
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)],
            env=server_env(home, host, port), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches govflow, which stops the server in order
        )
    server = UiServer(process, host, port, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not cancelled():
        if process.poll() is not None:
            raise ServerStartError(NO_START.format(host=host, port=port, log=log,
                                                   reason=f"it exited with code {process.returncode}"))
        if healthy(server.api_url):
            return server
        time.sleep(0.25)
    if cancelled():
        return server
    stop(server)
    raise ServerStartError(NO_START.format(host=host, port=port, log=log, reason=f"no answer within {timeout:.0f} s"))


def stop(server: UiServer, timeout: float = 15.0) -> None:
    """SIGTERM the server (its whole process group), then SIGKILL if it lingers."""
    if server.process.poll() is not None:
        return
    try:
        os.killpg(server.process.pid, signal.SIGTERM)
        server.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=5)
    except ProcessLookupError:
        pass


def write_state(home: Path, server: UiServer) -> Path:
    state = home / STATE_FILE
    tmp = state.with_suffix(".tmp")
    tmp.write_text(json.dumps({
        "api_url": server.api_url, "ui_url": server.url, "pid": os.getpid(), "server_pid": server.process.pid,
        "started_at": canon.format_ts(canon.utc_now()),
    }, indent=2))
    tmp.replace(state)
    return state


def remove_state(home: Path) -> None:
    state = home / STATE_FILE
    try:
        info = json.loads(state.read_text())
    except (OSError, ValueError):
        return
    if info.get("pid") == os.getpid():  # never remove the file of another running `govflow ui`
        state.unlink(missing_ok=True)


def serve(home: Path, host: str, port: int, echo: Callable[[str], None]) -> None:
    """Run the UI until Ctrl-C or SIGTERM; always stop the server and remove the state file.

    When the home's reused server (`govflow.prefect_server`) answers, its UI is the one: said, and
    no second server is started on the same Prefect database.
    """
    from govflow import prefect_server

    reused = prefect_server.read_state(home)
    if reused is not None and prefect_server.alive(reused.pid) and prefect_server.healthy(reused.api_url):
        echo(REUSED.format(ui=reused.ui_url, home=home, pid=reused.pid, api=reused.api_url))
        return
    stopping: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stopping.append(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    server = None
    try:
        echo(f"starting the Prefect server on {host}:{port} (log: {home / LOG_FILE}) ...")
        server = start(home, host, port, cancelled=lambda: bool(stopping))
        if stopping:
            return
        state = write_state(home, server)
        echo(HOWTO.format(ui=server.url, api=server.api_url, state=state, home=home))
        while not stopping:
            if server.process.poll() is not None:
                raise ServerStartError(f"the Prefect server stopped unexpectedly (exit code "
                                       f"{server.process.returncode}); its log: {server.log}")
            time.sleep(0.2)
        echo("stopping the Prefect server ...")
    finally:
        if server is not None:
            stop(server)
        remove_state(home)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
