"""The warm gate runner beside the reused Prefect server: its record in the home, its start and its stop.

A cold ``govflow run gate`` spends most of its time importing (Great Expectations, scikit-learn,
fairlearn, pandas, Prefect) before the gate itself runs. Next to the reused local server
(`govflow.prefect_server`), govflow therefore keeps one long-lived process,
``python -m govflow.cli.warm_runner HOME``, that has those imports done and serves the gate flow as a
Prefect deployment: ``run gate`` creates a flow run of it through the server's API, the runner runs it
with Prefect's own engine and the command prints the outcome (`govflow.cli.warm`).

It is recorded in ``<home>/runner.json`` (its log in ``<home>/runner.log``), started by whoever starts or
first reuses the server, shown by ``govflow server status`` and stopped with the server. It ends by
itself when the server is gone. A command uses it only when it would run exactly what the command
would run in its own process: the same code (a stamp of the source files of the govflow modules it
imported) and the same
govflow settings (the ledger URL, anchors, lineage: a stamp of the ``GOVFLOW_*``/``OPENLINEAGE*``
environment); otherwise the command runs the gate itself, as it does in ephemeral mode.
``GOVFLOW_WARM_RUNNER=0`` turns the runner off.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

STATE_FILE = "runner.json"
LOG_FILE = "runner.log"
SWITCH_ENV = "GOVFLOW_WARM_RUNNER"
MODULE = "govflow.cli.warm_runner"
# Settings that do not change what a gate records (the home is the runner's by construction).
NOT_STAMPED = ("GOVFLOW_HOME", "GOVFLOW_COMMAND_TOKEN", "GOVFLOW_VERBOSE", "GOVFLOW_PREFECT_START_TIMEOUT",
               "GOVFLOW_PREFECT", "GOVFLOW_DB_URL", SWITCH_ENV)


@dataclass(frozen=True)
class RunnerState:
    """What ``<home>/runner.json`` records; ``deployment_id`` is empty until the runner is ready."""

    pid: int
    api_url: str
    started_at: float
    code_stamp: str
    env_stamp: str
    deployment_id: str = ""
    code_files: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        return bool(self.deployment_id)


def enabled() -> bool:
    return os.environ.get(SWITCH_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def code_stamp(files: Sequence[str]) -> str:
    """A stamp of source files (name, size, modification time): one of them changed, a new stamp."""
    digest = hashlib.sha256()
    for name in files:
        try:
            stat = os.stat(name)
        except OSError:
            digest.update(f"{name}:gone\n".encode())
            continue
        digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def loaded_files() -> tuple[str, ...]:
    """The source files of the govflow modules this process has imported (what a runner runs)."""
    return tuple(sorted({str(module.__file__) for name, module in list(sys.modules.items())
                         if (name == "govflow" or name.startswith("govflow.")) and getattr(module, "__file__", None)}))


def current(state: RunnerState) -> bool:
    """The runner runs the code on disk now: none of the files it imported changed since."""
    return bool(state.code_files) and state.code_stamp == code_stamp(state.code_files)


def env_stamp(db: str | None, environ: Mapping[str, str] | None = None) -> str:
    """A stamp of the settings a gate's record depends on: the ledger URL (``--db`` beats the environment)
    and every other ``GOVFLOW_*`` and ``OPENLINEAGE*`` variable."""
    environ = os.environ if environ is None else environ
    chosen = {k: v for k, v in environ.items()
              if k.startswith(("GOVFLOW_", "OPENLINEAGE")) and k not in NOT_STAMPED}
    chosen["db"] = db or environ.get("GOVFLOW_DB_URL") or ""
    return hashlib.sha256(json.dumps(chosen, sort_keys=True).encode()).hexdigest()[:16]


def read_state(home: Path) -> RunnerState | None:
    try:
        data = json.loads((home / STATE_FILE).read_text())
        data["code_files"] = tuple(data.get("code_files", ()))
        return RunnerState(**{k: data[k] for k in RunnerState.__dataclass_fields__ if k in data})
    except (OSError, ValueError, TypeError):
        return None


def write_state(home: Path, state: RunnerState) -> None:
    tmp = home / f"{STATE_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(asdict(state), indent=2))
    tmp.replace(home / STATE_FILE)


def alive(pid: int) -> bool:
    """True while ``pid`` is a warm runner (not a pid reused by another program)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
        status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return MODULE.encode() in command and status not in ("Z", "X")


def usable(home: Path, api_url: str, db: str | None) -> RunnerState | None:
    """The home's runner when it is ready, alive, on this API, and runs this code with these settings."""
    if not enabled():
        return None
    state = read_state(home)
    if state is None or not state.ready or state.api_url != api_url or not alive(state.pid):
        return None
    if state.env_stamp != env_stamp(db) or not current(state):
        return None
    return state


def start(home: Path, env: Mapping[str, str], api_url: str) -> int | None:
    """Start the runner for ``home`` unless a current one runs; its pid when this call started it.

    ``env`` is the server's environment (`govflow.prefect_server.server_env`: no command token, it is
    meant to outlive the command); the caller holds the server's lock, so two commands never both start one.
    """
    if not enabled():
        return None
    state = read_state(home)
    if state is not None and alive(state.pid):
        if not state.ready:
            return None  # still starting (one that fails to start ends by itself)
        if state.api_url == api_url and current(state):
            return None  # (a command with other settings runs its gate itself; the runner stays for the rest)
        terminate(state.pid)  # stale: older code, or another server
    with open(home / LOG_FILE, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", MODULE, str(home)],
            env={**{k: v for k, v in env.items() if k != "GOVFLOW_VERBOSE"}, "PREFECT_API_URL": api_url},
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=str(home),
            start_new_session=True,  # started on purpose to outlive this command, like the server
        )
    write_state(home, RunnerState(pid=process.pid, api_url=api_url, started_at=time.time(),
                                  code_stamp="", env_stamp=""))  # shown as starting until it is ready
    return process.pid


def stop(home: Path, timeout: float = 15.0) -> RunnerState | None:
    """Stop the home's runner (SIGTERM, SIGKILL if it lingers); the state it had, or None."""
    state = read_state(home)
    if state is not None and alive(state.pid):
        terminate(state.pid, timeout)
    (home / STATE_FILE).unlink(missing_ok=True)
    return state


def terminate(pid: int, timeout: float = 15.0, running: Callable[[int], bool] | None = None) -> None:
    """SIGTERM to ``pid``'s process group, SIGKILL if it lingers; ``running`` tells whether it still runs."""
    running = running or alive
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            if not running(pid):
                return
            time.sleep(0.1)
