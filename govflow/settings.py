"""Process-wide settings that must be in place before Prefect is imported.

Offline and quiet by default: telemetry off, Prefect's home inside the govflow home (unless the
user set one), library log lines and warnings off the screen unless ``--verbose`` / GOVFLOW_VERBOSE=1.

Which Prefect API the flows use (`govflow.prefect_server`): the user's own ``PREFECT_API_URL``;
else the server `govflow ui` runs for this home (``ui.json``); else, the first time this process
imports Prefect, the home's reused local server (started then if none answers), or Prefect's
ephemeral server with ``GOVFLOW_PREFECT=ephemeral``. Deciding at Prefect's import, not at start-up,
keeps commands that never run a flow (``verify``, ``trace``, a refused config) from waiting on it.
"""

from __future__ import annotations

import importlib.abc
import json
import logging
import os
import sys
import urllib.request
import warnings
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

OFFLINE = {
    "DO_NOT_TRACK": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",  # MLflow reads DO_NOT_TRACK only when it is "true", not "1"
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_UI_V2_ENABLED": "false",
    "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
    "PREFECT_LOGGING_LEVEL": "CRITICAL",  # govflow prints its own story; GOVFLOW_VERBOSE=1 shows Prefect logs
}
VERBOSE_ENV = "GOVFLOW_VERBOSE"
QUIET_LOGGERS = ("great_expectations", "evidently", "fairlearn", "mlflow", "alembic", "httpx",
                 "great_expectations.data_context.types.base")  # sets itself to INFO when imported


def _error_or_worse(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.ERROR


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def configure(home: Path) -> None:
    """Everything before Prefect's import: offline, quiet, its home, and which Prefect API to use."""
    from govflow import reaper

    quiet()
    for key, value in OFFLINE.items():
        if key == "PREFECT_LOGGING_LEVEL" and verbose():
            continue
        os.environ.setdefault(key, value)
    os.environ.setdefault("PREFECT_HOME", str(home / "prefect"))
    os.environ["GOVFLOW_HOME"] = str(home)
    reaper.guard()  # whatever this command starts ends with it, even after kill -9
    if "PREFECT_API_URL" not in os.environ:
        url = ui_api_url(home)
        if url and _healthy(url):
            os.environ["PREFECT_API_URL"] = url
    if "prefect" not in sys.modules:
        _PrefectOnFirstImport.install(home)


def quiet() -> None:
    """No library log lines nor warnings on screen (GX's temporary docs folder, Prefect's home) unless verbose."""
    if verbose():
        return
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.ERROR)
        if _error_or_worse not in logger.filters:
            logger.addFilter(_error_or_worse)  # a filter survives a library's own setLevel
    warnings.filterwarnings("ignore", module=r"(prefect|great_expectations|evidently|fairlearn|sklearn|mlflow)(\.|$)")
    warnings.filterwarnings("ignore", message=r"Failed to create the Prefect home directory")


def prepare_prefect(home: Path) -> None:
    """Right before Prefect's import: its home exists, and its API is chosen (and started when reused)."""
    from govflow import prefect_server

    Path(os.environ.get("PREFECT_HOME", str(home / "prefect"))).expanduser().mkdir(parents=True, exist_ok=True)
    if "PREFECT_API_URL" in os.environ:
        return
    if prefect_server.mode() == "ephemeral":
        os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS",
                              str(int(prefect_server.start_timeout())))
        return
    os.environ["PREFECT_API_URL"] = prefect_server.ensure(home, OFFLINE).api_url


class _PrefectOnFirstImport(importlib.abc.MetaPathFinder):
    """Calls `prepare_prefect` when ``import prefect`` first runs in this process, then steps aside."""

    def __init__(self, home: Path) -> None:
        self.home = home

    @classmethod
    def install(cls, home: Path) -> None:
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, cls)]
        sys.meta_path.insert(0, cls(home))

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if fullname == "prefect":
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            prepare_prefect(self.home)
        return None  # the normal finders import it


def ui_api_url(home: Path) -> str | None:
    state = home / "ui.json"
    if not state.exists():
        return None
    return str(json.loads(state.read_text())["api_url"])


def _healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False
