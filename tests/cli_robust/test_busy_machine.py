"""`govflow demo` on a new home passes while two busy loops keep both cores loaded (#17 item 1).

Before the reused server, Prefect's ephemeral server missed its 20 s start-up deadline on a busy
machine (its new database is migrated first) and the first command exited 3 with a RuntimeError.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from govflow import prefect_server
from tests.cli_robust.helpers import govflow

BUSY_LOOP = "while True: pass"


@pytest.mark.alone  # its busy loops would starve the other worker's tests
def test_the_demo_passes_on_a_new_home_while_both_cores_are_busy(home: Path) -> None:
    busy = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(max(2, os.cpu_count() or 2))]
    try:
        result = govflow(home, "demo", timeout=3000)
    finally:
        for process in busy:
            process.kill()
            process.wait()
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "Timed out" not in result.stderr
    state = prefect_server.read_state(home)
    assert state is not None and prefect_server.healthy(state.api_url)  # the server it started, for reuse
