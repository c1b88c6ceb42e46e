"""Progress for long steps goes to stderr, and only when stderr is a terminal."""

from __future__ import annotations

import io
import sys
import time

import pytest

from govflow.cli import output


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_says_what_and_how_long(monkeypatch: pytest.MonkeyPatch) -> None:
    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    monkeypatch.setenv("NO_COLOR", "1")
    with output.progress("training credit-scoring"):
        time.sleep(1.2)  # one tick of the elapsed-seconds counter
    shown = screen.getvalue()
    assert "training credit-scoring" in shown
    assert shown.rstrip().endswith("training credit-scoring: done in 1 s")


def test_no_progress_in_a_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    pipe = io.StringIO()
    monkeypatch.setattr(sys, "stderr", pipe)
    with output.progress("training credit-scoring"):
        pass
    assert pipe.getvalue() == ""
