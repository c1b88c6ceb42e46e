"""Monitoring's view of the prediction log: time windows over ``served_at`` and the rows in each.

A window is written ``<number><unit>`` with the unit ``m`` (minutes), ``h``, ``d`` or ``w``:
``7d`` is seven days. Windows are a fixed grid anchored at midnight UTC of the day of the system's
first logged prediction: ``[anchor + k * size, anchor + (k + 1) * size)``, so every run of the
monitor cuts the same boundaries, and a window's figures change only when outcomes arrive late.
The last window may be incomplete (``complete`` false) while it is still being served.

`load_window` gives the predictions of a window as one frame: the served decision and score, the
features and sensitive attributes from the (purgeable) payloads, and the latest outcome, if any.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection, func, select

from govflow.errors import InputError
from govflow.governance.ledger.schema import Prediction, PredictionPayload
from govflow.governance.monitoring.incidents import latest_outcomes
from govflow.governance.trail.decisions import favourable_of

UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
BAD_WINDOW = "window '{text}': write a number and a unit m, h, d or w, e.g. 7d or 24h"
META_COLUMNS = ("prediction_id", "model_version_id", "served_at", "decision", "score", "outcome", "purged",
                "out_of_domain")


def parse_window(text: str) -> timedelta:
    """``"7d"`` -> 7 days; `InputError` for anything else."""
    match = re.fullmatch(r"\s*(\d+)\s*([mhdw])\s*", text or "")
    if not match or int(match.group(1)) == 0:
        raise InputError(BAD_WINDOW.format(text=text))
    return timedelta(**{UNITS[match.group(2)]: int(match.group(1))})


@dataclass(frozen=True)
class Window:
    """One monitoring window ``[start, end)``."""

    start: datetime
    end: datetime
    complete: bool  #: False when ``end`` is still in the future

    @property
    def label(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M}..{self.end:%Y-%m-%d %H:%M}Z"

    def to_dict(self) -> dict[str, Any]:
        from govflow import canonical as canon

        return {"start": canon.format_ts(self.start), "end": canon.format_ts(self.end), "complete": self.complete}


def served_range(conn: Connection, system: str) -> tuple[datetime | None, datetime | None]:
    row = conn.execute(select(func.min(Prediction.served_at), func.max(Prediction.served_at))
                       .where(Prediction.system == system)).one()
    return row[0], row[1]


def window_grid(first: datetime, last: datetime, size: timedelta, now: datetime | None = None) -> list[Window]:
    """Every window of the grid from ``first``'s midnight (UTC) that holds ``first`` .. ``last``."""
    anchor = first.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    now = now or datetime.now(UTC)
    count = int((last - anchor) // size) + 1
    return [Window(anchor + k * size, anchor + (k + 1) * size, anchor + (k + 1) * size <= now) for k in range(count)]


def windows_for(conn: Connection, system: str, size: timedelta, last: int | None = None,
                now: datetime | None = None) -> list[Window]:
    """The windows that hold predictions of the system (the ``last`` most recent, when given)."""
    first, final = served_range(conn, system)
    if first is None or final is None:
        return []
    grid = window_grid(first, final, size, now)
    holding = [w for w in grid if conn.execute(select(Prediction.id).where(
        Prediction.system == system, Prediction.served_at >= w.start, Prediction.served_at < w.end).limit(1)).first()]
    return holding[-last:] if last else holding


def _favourable_code(output: Any) -> int | None:
    """1 favourable, 0 not (the checks' coding), from either logged shape; None for no decision."""
    favourable = favourable_of(output)
    return None if favourable is None else int(favourable)


def load_window(conn: Connection, system: str, window: Window) -> pd.DataFrame:
    """The window's predictions: `META_COLUMNS`, then one column per feature and sensitive attribute.

    ``decision`` is 1 for a favourable logged decision, 0 for the other (whichever shape it was logged
    in, `govflow.governance.trail.decisions`), ``score`` the logged score; ``outcome`` is
    the latest late-arriving label or missing; ``purged`` marks rows whose payload was purged (their
    features are missing, so drift and fairness leave them out; they still count as decisions).
    """
    rows = conn.execute(
        select(Prediction.id, Prediction.model_version_id, Prediction.served_at, Prediction.output_json,
               PredictionPayload.features_json, PredictionPayload.sensitive_json)
        .outerjoin(PredictionPayload, PredictionPayload.payload_hash == Prediction.payload_hash)
        .where(Prediction.system == system, Prediction.served_at >= window.start, Prediction.served_at < window.end)
        .order_by(Prediction.served_at, Prediction.id)).all()
    outcomes = latest_outcomes(conn, [r[0] for r in rows])
    records = []
    for pid, mv_id, served_at, output_json, features_json, sensitive_json in rows:
        output = json.loads(output_json)
        output = output if isinstance(output, dict) else {}
        record: dict[str, Any] = {"prediction_id": pid, "model_version_id": mv_id, "served_at": served_at,
                                  "decision": _favourable_code(output), "score": output.get("score"),
                                  "outcome": outcomes.get(pid), "purged": features_json is None,
                                  "out_of_domain": len(output.get("out_of_domain") or ())}  # fields flagged when served
        if features_json is not None:
            record.update(json.loads(features_json))
            record.update(json.loads(sensitive_json))
        records.append(record)
    frame = pd.DataFrame.from_records(records, columns=None if records else list(META_COLUMNS))
    frame.attrs["govflow:name"] = f"predictions of {system} in {window.label}"
    return frame
