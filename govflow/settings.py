"""Process-wide settings that must be in place before Prefect is imported.

Offline and quiet by default: telemetry off, Prefect's home inside the govflow home (unless the
user set one), and, when `govflow ui` has a server running, its API URL so runs show in the UI.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from pathlib import Path

OFFLINE = {
    "DO_NOT_TRACK": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",  # MLflow reads DO_NOT_TRACK only when it is "true", not "1"
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_UI_V2_ENABLED": "false",
    "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
    "PREFECT_LOGGING_LEVEL": "CRITICAL",  # govflow prints its own story; GOVFLOW_VERBOSE=1 shows Prefect logs
}


def configure(home: Path) -> None:
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    for key, value in OFFLINE.items():
        if key == "PREFECT_LOGGING_LEVEL" and os.environ.get("GOVFLOW_VERBOSE"):
            continue
        os.environ.setdefault(key, value)
    os.environ.setdefault("PREFECT_HOME", str(home / "prefect"))
    os.environ["GOVFLOW_HOME"] = str(home)
    if "PREFECT_API_URL" not in os.environ:
        url = ui_api_url(home)
        if url and _healthy(url):
            os.environ["PREFECT_API_URL"] = url


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
