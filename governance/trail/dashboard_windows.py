"""The dashboard's time windows: the choices offered, text like ``15m`` read as a duration, and the
grid a moment falls on (``anchor + k * size``; monitoring's grid starts at midnight UTC of a system's
first prediction, `govflow.governance.trail.dashboard_panels.grid_anchor`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

BUCKETS = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1),
           timedelta(hours=3), timedelta(hours=6), timedelta(hours=12), timedelta(days=1), timedelta(days=7))
MAX_BUCKETS = 48
BAD_DURATION = "'{text}' is not a duration: write a number and a unit, e.g. 15m, 6h, 30d"


def parse_duration(text: str) -> timedelta:
    """``15m``, ``6h``, ``30d``, ``2w`` as a timedelta; anything else is a `ValueError` with the fix."""
    units = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    number, unit = text.strip()[:-1], text.strip()[-1:].lower()
    # ASCII digits only: `str.isdigit` also takes '²' (which `int` refuses) and '١' (which it reads as 1).
    if unit not in units or not (number.isascii() and number.isdigit()) or int(number) <= 0:
        raise ValueError(BAD_DURATION.format(text=text))
    try:
        return timedelta(**{units[unit]: int(number)})
    except OverflowError:
        raise ValueError(BAD_DURATION.format(text=text)) from None


def auto_bucket(start: datetime, end: datetime) -> timedelta:
    """The smallest window in `BUCKETS` that cuts the period into at most `MAX_BUCKETS` windows."""
    span = end - start
    return next((b for b in BUCKETS if span / b <= MAX_BUCKETS), BUCKETS[-1])


def window_of(moment: datetime, bucket: timedelta, anchor: datetime | None = None) -> datetime:
    """The start of the window holding ``moment``: the grid ``anchor + k * bucket`` (default the Unix epoch)."""
    seconds = int(bucket.total_seconds())
    offset = int(anchor.timestamp()) if anchor is not None else 0
    stamp = int(moment.timestamp()) - offset
    return datetime.fromtimestamp(stamp - stamp % seconds + offset, UTC)


class WindowGrid:
    """`window_of` for many moments: each distinct window start is built once."""

    def __init__(self, bucket: timedelta, anchor: datetime | None = None) -> None:
        self.seconds = int(bucket.total_seconds())
        self.offset = int(anchor.timestamp()) if anchor is not None else 0
        self.starts: dict[int, datetime] = {}

    def __call__(self, moment: datetime) -> datetime:
        stamp = int(moment.timestamp()) - self.offset
        key = stamp - stamp % self.seconds + self.offset
        start = self.starts.get(key)
        if start is None:
            start = self.starts[key] = datetime.fromtimestamp(key, UTC)
        return start
