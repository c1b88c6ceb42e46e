"""Monitoring windows: parsing, and the fixed grid over served_at."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from govflow.errors import InputError
from govflow.governance.monitoring.results import parse_window, window_grid


@pytest.mark.parametrize(("text", "expected"), [
    ("7d", timedelta(days=7)), ("24h", timedelta(hours=24)), ("90m", timedelta(minutes=90)),
    ("2w", timedelta(weeks=2)), (" 7d ", timedelta(days=7)),
])
def test_window_sizes(text: str, expected: timedelta) -> None:
    assert parse_window(text) == expected


@pytest.mark.parametrize("text", ["7", "d", "0d", "7y", "-1d", "1.5d", ""])
def test_bad_window_says_how_to_write_one(text: str) -> None:
    with pytest.raises(InputError) as error:
        parse_window(text)
    assert str(error.value) == f"window '{text}': write a number and a unit m, h, d or w, e.g. 7d or 24h"


def test_grid_is_anchored_at_the_first_days_midnight() -> None:
    first = datetime(2026, 1, 5, 15, 30, tzinfo=UTC)
    last = datetime(2026, 1, 19, 0, 0, tzinfo=UTC)
    now = datetime(2026, 1, 20, tzinfo=UTC)
    grid = window_grid(first, last, timedelta(days=7), now)
    assert [(w.start.day, w.end.day, w.complete) for w in grid] == [(5, 12, True), (12, 19, True), (19, 26, False)]
    assert grid[0].label == "2026-01-05 00:00..2026-01-12 00:00Z"
