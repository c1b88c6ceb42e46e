"""The Prefect API govflow's flows run against, there when needed.

Three modes, chosen by the environment before Prefect is imported (`govflow.settings.configure`):

* the user's own server: ``PREFECT_API_URL`` is set; govflow leaves it alone;
* ``server`` (the default): a local ``prefect server start`` that govflow starts the first time a
  command needs Prefect and that later commands reuse. Its pid and API URL are recorded in
  ``<home>/server.json`` (its log in ``<home>/server.log``); ``govflow server status|stop`` shows and
  stops it. It is started on purpose to outlive the command, in its own session;
  Beside it runs the warm gate runner (`govflow.prefect_runner`), started and stopped with it;
* ``ephemeral`` (``GOVFLOW_PREFECT=ephemeral``): Prefect's own temporary server, started by every
  command and stopped when it ends (no process left behind, but its start-up is paid each time).

Why a reused server is the default: on this project's 2-core machine a cold ``run gate`` on an
existing home took 35-47 s against a reused server and 73-88 s in ephemeral mode under a load of 11
(bench/bench_cli.py prints the figures on a quieter machine); and a process killed with ``kill -9``
leaves no Prefect server of its own behind.

Start-up waits up to ``GOVFLOW_PREFECT_START_TIMEOUT`` seconds (default 600: a busy machine migrates
Prefect's new database slowly); if the server still does not answer, the command exits 2 naming the
cause and the settings to change.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from govflow import prefect_runner, reaper
from govflow.errors import GovflowError

MODE_ENV = "GOVFLOW_PREFECT"
MODES = ("server", "ephemeral")
TIMEOUT_ENV = "GOVFLOW_PREFECT_START_TIMEOUT"
DEFAULT_TIMEOUT = 600.0
STATE_FILE = "server.json"
LOG_FILE = "server.log"
LOCK_FILE = "server.lock"

BAD_MODE = "{env}={value!r} is not a Prefect mode govflow knows: use server (the default) or ephemeral"
BAD_TIMEOUT = "{env}={value!r} is not a number of seconds: set it to e.g. 600, or unset it"
EXITED = ("the Prefect server govflow started for {home} exited with code {code} before answering; its log "
          "{log} says: {tail}. Fix that, or set PREFECT_API_URL to a Prefect server of your own, "
          "or GOVFLOW_PREFECT=ephemeral")
NO_ANSWER = ("the Prefect server govflow started for {home} did not answer within {timeout:g} s (log: {log}); "
             "on a busy machine raise GOVFLOW_PREFECT_START_TIMEOUT (seconds), or set PREFECT_API_URL to a "
             "Prefect server of your own")


class PrefectUnavailable(GovflowError, RuntimeError):
    """No Prefect API could be reached or started (exit 2, with the setting to change)."""

    exit_code = 2


@dataclass(frozen=True)
class ServerState:
    """What ``<home>/server.json`` records of the server govflow started."""

    pid: int
    api_url: str
    started_at: float

    @property
    def ui_url(self) -> str:
        return self.api_url.removesuffix("/api")


def mode() -> str:
    """``server`` or ``ephemeral`` from GOVFLOW_PREFECT (an unknown value is exit 2)."""
    value = os.environ.get(MODE_ENV, "server").strip().lower() or "server"
    if value not in MODES:
        raise PrefectUnavailable(BAD_MODE.format(env=MODE_ENV, value=value))
    return value


def start_timeout() -> float:
    value = os.environ.get(TIMEOUT_ENV)
    if not value:
        return DEFAULT_TIMEOUT
    try:
        return float(value)
    except ValueError:
        raise PrefectUnavailable(BAD_TIMEOUT.format(env=TIMEOUT_ENV, value=value)) from None


def healthy(api_url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def alive(pid: int) -> bool:
    """True while ``pid`` runs a Prefect server (a pid reused by another program after a reboot is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"prefect" in command and b"server" in command and _state_of(pid) not in ("Z", "X")


def _state_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def read_state(home: Path) -> ServerState | None:
    try:
        data = json.loads((home / STATE_FILE).read_text())
        return ServerState(pid=int(data["pid"]), api_url=str(data["api_url"]), started_at=float(data["started_at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_state(home: Path, state: ServerState) -> None:
    tmp = home / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps({"pid": state.pid, "api_url": state.api_url, "started_at": state.started_at}, indent=2))
    tmp.replace(home / STATE_FILE)


@contextmanager
def _locked(home: Path) -> Iterator[None]:
    """One govflow process at a time decides whether to start the server (others wait, then reuse it)."""
    home.mkdir(parents=True, exist_ok=True)
    with open(home / LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def ui_api_env(host: str, port: int) -> dict[str, str]:
    """The settings that point a server's UI (and its own client) at the API on ``host:port``."""
    api_url = f"http://{host}:{port}/api"
    return {"PREFECT_UI_API_URL": api_url, "PREFECT_SERVER_API_HOST": host, "PREFECT_SERVER_API_PORT": str(port)}


def server_env(home: Path, offline: Mapping[str, str]) -> dict[str, str]:
    """The server's environment: ``offline`` (`govflow.settings.OFFLINE`), its database in the home's
    Prefect home, and not the token of the command that starts it (`govflow.reaper`): it outlives it."""
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", reaper.TOKEN_ENV)}
    env.update({k: v for k, v in offline.items() if k != "PREFECT_LOGGING_LEVEL"})
    env.setdefault("PREFECT_HOME", str(home / "prefect"))
    return env


def ensure(home: Path, offline: Mapping[str, str], timeout: float | None = None) -> ServerState:
    """The home's server, started if none answers; waits while another process is starting it."""
    return start(home, offline, timeout)[0]


def start(home: Path, offline: Mapping[str, str], timeout: float | None = None) -> tuple[ServerState, bool]:
    """The running server, or a new one (`govflow server start`); True when this call started it."""
    timeout = start_timeout() if timeout is None else timeout
    with _locked(home):
        state = read_state(home)
        started = False
        if state is None or not alive(state.pid) or not (healthy(state.api_url) or _wait(home, state, timeout)):
            if state is not None and alive(state.pid):
                prefect_runner.terminate(state.pid, running=alive)  # alive but mute past the deadline: replaced
            state, started = _start_locked(home, server_env(home, offline), timeout), True
        prefect_runner.start(home, server_env(home, offline), state.api_url)  # unless a current one runs
        return state, started


def _start_locked(home: Path, env: dict[str, str], timeout: float) -> ServerState:
    port = free_port()
    log = home / LOG_FILE
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env={**env, **ui_api_env("127.0.0.1", port)}, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # started on purpose to outlive this command (and its Ctrl-C)
        )
    state = ServerState(pid=process.pid, api_url=f"http://127.0.0.1:{port}/api", started_at=time.time())
    _write_state(home, state)  # recorded at once: `server status` shows it even while it starts
    if _wait(home, state, timeout, process):
        return state
    prefect_runner.terminate(process.pid, running=alive)
    (home / STATE_FILE).unlink(missing_ok=True)
    raise PrefectUnavailable(NO_ANSWER.format(home=home, timeout=timeout, log=log))


def _wait(home: Path, state: ServerState, timeout: float, process: subprocess.Popen[bytes] | None = None) -> bool:
    """True once the server answers; False at the deadline; `PrefectUnavailable` if it exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = process.poll() if process is not None else (None if alive(state.pid) else -1)
        if code is not None:
            (home / STATE_FILE).unlink(missing_ok=True)
            raise PrefectUnavailable(EXITED.format(home=home, code=code, log=home / LOG_FILE,
                                                   tail=_tail(home / LOG_FILE)))
        if healthy(state.api_url):
            return True
        time.sleep(0.25)
    return False


def _tail(log: Path) -> str:
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "nothing"
    return " | ".join(lines[-3:]) or "nothing"


def stop(home: Path, timeout: float = 15.0) -> ServerState | None:
    """Stop the home's server (SIGTERM to its session, SIGKILL if it lingers); the state it had, or None."""
    with _locked(home):
        prefect_runner.stop(home, timeout)  # the warm runner first: it serves flow runs of this server
        state = read_state(home)
        if state is not None and alive(state.pid):
            prefect_runner.terminate(state.pid, timeout, running=alive)
        (home / STATE_FILE).unlink(missing_ok=True)
    return state


