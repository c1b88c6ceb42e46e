"""How commands print: JSON for programs (exact), text for people (rounded, coloured, ≤ 100 columns).

Colour only reaches a terminal (typer strips it from pipes and files) and never when ``NO_COLOR`` is
set (https://no-color.org). Progress goes to stderr, and only when stderr is a terminal, so what a
command prints on stdout is the same in a pipe, a file or a test.
"""

from __future__ import annotations

import json
import os
import re
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import typer

WIDTH = 100  # the longest line a command prints for people
GOOD = ("pass", "passed", "intact", "ok", "approved", "production", "agree")
BAD = ("block", "blocked", "fail", "failed", "tampering found", "alert", "rejected", "suspended")


def emit_json(data: Any) -> None:
    """``data`` as JSON on stdout: every number exact, keys in the order given."""
    typer.echo(json.dumps(data, indent=1, ensure_ascii=False, default=str))


def colour_enabled() -> bool:
    return not os.environ.get("NO_COLOR")


def paint(text: str, *, good: bool | None = None, bold: bool = False) -> str:
    """``text`` in green (good), red (not good) or plain (None); bold when asked; nothing under NO_COLOR."""
    if not colour_enabled() or (good is None and not bold):
        return text
    return typer.style(text, fg=None if good is None else ("green" if good else "red"), bold=bold or None)


def verdict(word: str) -> str:
    """A result word (pass, BLOCK, intact, ALERT, ...) coloured by what it means; pad it before, not after."""
    lowered = word.strip().lower()
    good = True if lowered in GOOD else False if lowered in BAD else None
    return paint(word, good=good, bold=good is False)


def say(text: str = "", *, err: bool = False) -> None:
    """Print for people: colour kept on a terminal only (typer strips it elsewhere)."""
    typer.echo(text, err=err)


def wrap(text: str, *, indent: str = "", width: int = WIDTH) -> list[str]:
    """``text`` cut at spaces into lines of at most ``width`` columns (a word is never cut), the lines
    after the first aligned under the text after ``indent`` (``"  - "`` hangs its continuation lines)."""
    return textwrap.wrap(text, width=width, initial_indent=indent, subsequent_indent=" " * len(indent),
                         break_long_words=False, break_on_hyphens=False) or [indent.rstrip()]


TREE_PREFIX = re.compile(r"^((?:│  |   )*(?:├─ |└─ )?)(.*)$")


def on_terminal() -> bool:
    """Whether stdout is a person's terminal (wrapped lines) rather than a pipe or file (one record a line)."""
    return sys.stdout.isatty()


def wrap_tree(text: str, width: int = WIDTH) -> str:
    """A tree drawn with ├─ └─ │ whose long labels are cut at spaces, continued under their own branch."""
    lines = []
    for line in text.splitlines():
        if len(line) <= width:
            lines.append(line)
            continue
        match = TREE_PREFIX.match(line)
        prefix, body = (match.group(1), match.group(2)) if match else ("", line)
        hang = prefix.replace("├─ ", "│  ").replace("└─ ", "   ") + "  "
        lines += textwrap.wrap(body, width=width, initial_indent=prefix, subsequent_indent=hang,
                               break_long_words=False, break_on_hyphens=False) or [prefix]
    return "\n".join(lines)


def for_people(text: str) -> str:
    """``text`` wrapped within `WIDTH` columns on a terminal; unchanged in a pipe or file, for grep."""
    return wrap_tree(text) if on_terminal() else text


def number(value: float | None, digits: int = 3) -> str:
    """A number for people: rounded to ``digits`` places, trailing zeros kept for alignment; '-' for none."""
    if value is None:
        return "-"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return f"{value:.{digits}f}"


def when(moment: datetime | str | None) -> str:
    """A time for people: minutes, UTC (the JSON keeps the recorded microseconds)."""
    if moment is None:
        return "-"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    return moment.strftime("%Y-%m-%d %H:%M UTC")


@contextmanager
def progress(label: str) -> Iterator[None]:
    """A spinner with the elapsed seconds on stderr while a long step runs, when stderr is a terminal."""
    if not sys.stderr.isatty():
        yield
        return
    from rich.console import Console

    console = Console(stderr=True, no_color=not colour_enabled())
    started = time.monotonic()
    with console.status(label) as status:
        def tick() -> None:
            status.update(f"{label} ({time.monotonic() - started:.0f} s)")

        import threading

        stop = threading.Event()

        def run() -> None:
            while not stop.wait(1.0):
                tick()

        ticker = threading.Thread(target=run, daemon=True)
        ticker.start()
        try:
            yield
        finally:
            stop.set()
    console.print(f"{label}: done in {time.monotonic() - started:.0f} s", highlight=False)
