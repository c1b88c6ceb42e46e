"""The real `govflow` command line in a subprocess, and the processes a command leaves behind."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[2]
GOVFLOW = str(Path(sys.executable).with_name("govflow"))
CREDIT = ROOT / "data" / "credit-scoring.govflow.yaml"
TOKEN_ENV = "GOVFLOW_COMMAND_TOKEN"


def env_for(home: Path, **extra: str) -> dict[str, str]:
    """The test's environment without anything that would choose the Prefect API or the home for the command."""
    drop = ("GOVFLOW_HOME", "GOVFLOW_DB_URL", "PREFECT_API_URL", "PREFECT_HOME", "GOVFLOW_PREFECT", TOKEN_ENV,
            "GOVFLOW_PREFECT_START_TIMEOUT", "GOVFLOW_VERBOSE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(extra)
    return env


def govflow(home: Path, *args: str, timeout: float = 900, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GOVFLOW, "--home", str(home), *args], capture_output=True, text=True, timeout=timeout,
                          env=env_for(home, **extra), cwd=ROOT)


def start_govflow(home: Path, *args: str, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([GOVFLOW, "--home", str(home), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env_for(home, **extra), cwd=ROOT, start_new_session=True)


def poll(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def command_token(pid: int) -> str | None:
    """The token govflow command ``pid`` gives the processes it starts, read from its watcher's arguments
    (`govflow.reaper`: the token is ``<pid>-<random>``)."""
    prefix = f"{TOKEN_ENV}={pid}-"
    for proc in psutil.process_iter():
        try:
            args = proc.cmdline()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        for arg in args:
            if arg.startswith(prefix):
                return arg.split("=", 1)[1]
    return None


def watchers(token: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        try:
            if f"{TOKEN_ENV}={token}" in proc.cmdline() and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def marked(token: str) -> list[psutil.Process]:
    """Every running process that inherited ``token``."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(TOKEN_ENV) == token and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def prefect_children(pid: int) -> list[psutil.Process]:
    """The Prefect server processes below ``pid`` (the ephemeral one is ``python -m uvicorn ... prefect``)."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    out = []
    for child in children:
        try:
            if "prefect" in " ".join(child.cmdline()):
                out.append(child)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return out
