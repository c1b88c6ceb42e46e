"""The system page's figures from the hourly sums (`govflow.governance.trail.rollup`, #19 item 3).

`from_rollup` reads the period's cells (a few rows per hour, however many predictions) into the
same `Tallied` figures `govflow.governance.trail.dashboard_data.tally_rows` sums from the rows, or
says it cannot (None): windows that cut hours, or a version in the period whose predictions were
counted with other bins or another positive label than the page reads with. The rest of the hour
in progress is counted from its rows when something was served after the page's end.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from govflow.governance.ledger.schema import Prediction
from govflow.governance.trail import dashboard_sql, rollup
from govflow.governance.trail.dashboard_figures import (
    MISSING,
    OUTSIDE,
    Count,
    Rate,
    group_labels,
)


@dataclass(frozen=True)
class Tallied:
    """The period's figures as the database summed them (`govflow.governance.trail.dashboard_sql`)."""

    total: int  # predictions in the period
    loaded: int  # those counted: all of them, or the latest ``max_rows``
    counts: list[Count]
    rates: list[Rate]
    served: dict[str, tuple[int, int]]  # model version id -> (predictions, out of domain) in the period
    lists: int  # recommended lists among those counted


class Figures:
    """The page's sums, added cell by cell (from the hourly sums, and from counted rows)."""

    def __init__(self, labels: Mapping[str, str]) -> None:
        self.labels = labels
        self.requests: dict[tuple[datetime, str], int] = defaultdict(int)
        self.decided: dict[tuple[str, str, datetime], list[int]] = {}
        self.served: dict[str, tuple[int, int]] = {}
        self.lists = 0

    def everyone(self, window: datetime, version_id: str, decision: int | None, n: int, ood: int, items: int) -> None:
        self.requests[(window, self.labels.get(version_id, version_id))] += n
        had, had_ood = self.served.get(version_id, (0, 0))
        self.served[version_id] = (had + n, had_ood + ood)
        self.lists += items
        self.group(window, "", "all", decision, n)

    def group(self, window: datetime, attribute: str, label: str, decision: int | None, n: int) -> None:
        if decision not in (0, 1):  # no decision: counted as a request, in no rate
            return
        sums = self.decided.setdefault((attribute, label, window), [0, 0])
        sums[0] += n
        sums[1] += decision * n

    def tallied(self) -> Tallied:
        total = sum(self.requests.values())
        return Tallied(total=total, loaded=total,
                       counts=[Count(w, v, n) for (w, v), n in sorted(self.requests.items()) if n],
                       rates=[Rate(a, g, w, n, fav) for (a, g, w), (n, fav) in sorted(self.decided.items()) if n],
                       served=self.served, lists=self.lists)


def from_rollup(conn: Connection, system: str, start: datetime, end: datetime, size: timedelta, *,
                labels: Mapping[str, str], positive_label: Any, spec: Mapping[str, Sequence[float] | None]) -> Tallied | None:
    """The period's figures from the hourly sums; None when they cannot give them: windows that cut
    hours (shorter than an hour, or off the hour), or a version in the period whose predictions were
    counted with other bins or another positive label than the page's (then rows are counted instead)."""
    seconds = int(size.total_seconds())
    if seconds % 3600 or start != rollup.hour_of(start):
        return None
    cut = rollup.hour_of(end)
    if cut < end and not served_from(conn, system, end):
        cut += rollup.HOUR  # the hour in progress holds nothing at or after the page's end: its sums are the rows'
    cells = rollup.rows(conn, system, start, cut)
    read = rollup.readings(conn, {c.version_id for c in cells})
    reading = rollup.Reading.given(spec, positive_label)  # how the page reads: the newest version's config
    if any(r != reading for r in read.values()):
        return None
    figures = Figures(labels)

    def window(moment: datetime) -> datetime:
        return start + timedelta(seconds=(moment - start) // timedelta(seconds=1) // seconds * seconds)

    for c in cells:
        decision = None if c.decision == rollup.NO_DECISION else c.decision
        if c.attribute == rollup.OVERALL[0]:
            figures.everyone(window(c.hour), c.version_id, decision, c.n, c.out_of_domain, c.with_items)
        else:
            figures.group(window(c.hour), c.attribute, c.label, decision, c.n)
    if cut < end:  # the rest of the hour in progress, counted from its rows (at most an hour of them)
        groups: dict[str | None, dict[str, str]] = {}
        for t in dashboard_sql.cells(conn, system, start=start, size=size, end=end, low=cut,
                                     positive_label_given=positive_label is not None):
            decision = dashboard_sql.decided(t, positive_label)
            figures.everyone(t.window, t.version_id, decision, t.n, t.out_of_domain, t.with_items)
            if t.sensitive not in groups:
                groups[t.sensitive] = group_labels(json.loads(t.sensitive) if t.sensitive else None, spec)
            for attribute, label in groups[t.sensitive].items():
                if label not in (MISSING, OUTSIDE):  # a NUL as the sums spell it (`rollup.Sums`), on SQLite too
                    figures.group(t.window, attribute.replace("\x00", "\ufffd"), label.replace("\x00", "\ufffd"),
                                  decision, t.n)
    return figures.tallied()


def served_from(conn: Connection, system: str, moment: datetime) -> bool:
    """Whether the system logged a prediction served at or after ``moment`` (one probe of its time index)."""
    return conn.execute(select(Prediction.id).where(Prediction.system == system, Prediction.served_at >= moment)
                        .limit(1)).first() is not None
