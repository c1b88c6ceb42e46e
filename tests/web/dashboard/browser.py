"""Headless Chromium (Debian's package) driven by Playwright, and a real uvicorn server in a thread.

`chromium()` is the browser binary, or a skip with the reason (a failure under CI=true, where
.ci/run installs it). Never `playwright install`: that downloads a browser and fails offline.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium() -> str:
    found = shutil.which("chromium")
    if found:
        return found
    message = "headless browser tests need Debian's chromium on PATH (apt-get install -y chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true requires chromium: {message}", pytrace=False)
    pytest.skip(message)


@contextmanager
def launched_chromium() -> Iterator[Any]:
    """Debian's chromium under Playwright (a skip, or a failure under CI, where there is none)."""
    executable = chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, args=ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """``app`` under uvicorn on 127.0.0.1 (a free port) in a thread; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
