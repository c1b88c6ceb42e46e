"""Ctrl-C of a command outside a gate (typer's silent exit 130): one line that says what became of the ledger."""

from __future__ import annotations

import signal
from pathlib import Path

from govflow.cli.main import INTERRUPTED
from tests.cli_robust.helpers import CREDIT, govflow, start_govflow


def test_ctrl_c_during_training_says_so_and_leaves_the_ledger_whole(home: Path) -> None:
    proc = start_govflow(home, "run", "train", "-c", str(CREDIT), GOVFLOW_PREFECT="ephemeral")
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.startswith("training credit-scoring"), first
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 130, out
    assert INTERRUPTED in out
    assert "Traceback" not in out and "aborted" not in out
    checked = govflow(home, "verify", GOVFLOW_PREFECT="ephemeral")
    assert checked.returncode == 0, checked.stderr
    assert "ledger intact" in checked.stdout
