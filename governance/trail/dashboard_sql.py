"""The dashboard's figures counted in the database (#19 item 3): one GROUP BY over the period's predictions.

The system page's figures (requests per version and window, favourable rates per window overall and
per sensitive group, out-of-domain counts per version) are sums over predictions, so the database
adds them up and Python reads one row per *cell*: the predictions sharing a window, a model version,
a decision and a set of sensitive attributes as logged (`Cell`). A page then costs one pass of the
database over the period's rows (the ``(system, served_at)`` index, each payload found by its key),
and Python work in the number of cells, not of predictions.

What is read in SQL is what `govflow.governance.trail.dashboard_figures.decision_of` reads, field by
field, with the JSON types checked as Python checks them (``favourable`` a boolean, else no
``score_of``, else ``decision`` a boolean or the integer 0 or 1). The one comparison left to Python
is an output's ``prediction`` against the config's positive label (Python's ``==`` or equal ``str``),
for the outputs only it decides: the cell keeps the value's JSON text. Sensitive attributes stay as
their stored JSON text too, labelled (binned) in Python once per distinct text by the same
`group_labels` as before, so a group here is the group a record got.

PostgreSQL reads the output as ``jsonb`` through `govflow.governance.trail.search_sql.nul_safe` (a
``\\u0000`` in an own service's answer must not fail the page), once per row (``OFFSET 0`` keeps the
planner from copying the cast into every expression that reads it). The out-of-domain flag is the
condition of ``govflow predictions search --out-of-domain any``, so a count and its link list the same rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, text

from govflow.governance.ledger.column_types import UTCDateTime
from govflow.governance.trail.dashboard_figures import decision_of
from govflow.governance.trail.search_sql import nul_safe

PG_DECISION = ("CASE WHEN jsonb_typeof(o -> 'favourable') = 'boolean' THEN (o -> 'favourable' = 'true'::jsonb)::int "
               "WHEN o -> 'score_of' IS NOT NULL THEN NULL "
               "WHEN (o -> 'decision')::text IN ('true', '1') THEN 1 "
               "WHEN (o -> 'decision')::text IN ('false', '0') THEN 0 END")
PG_COLUMNS = {
    "k": "date_bin(make_interval(secs => :size), served_at, :start)",
    "prediction": f"CASE WHEN :positive AND o -> 'score_of' IS NULL AND {PG_DECISION} IS NULL "
                  "THEN (o -> 'prediction')::text END",
    "ood": "CASE WHEN o ->> 'out_of_domain' IS NOT NULL THEN 1 ELSE 0 END",
    "items": "CASE WHEN jsonb_typeof(o) = 'array' OR jsonb_typeof(o -> 'items') = 'array' THEN 1 ELSE 0 END",
}
PG_ROWS = (f"(SELECT model_version_id, served_at, payload_hash, {nul_safe('output_json')} AS o FROM predictions "
           "WHERE system = :system AND served_at >= :low AND served_at < :end OFFSET 0) p")

SQLITE_DECISION = (
    "CASE WHEN json_type(o, '$.favourable') IN ('true', 'false') THEN json_type(o, '$.favourable') = 'true' "
    "WHEN json_type(o, '$.score_of') IS NOT NULL THEN NULL "
    "WHEN json_type(o, '$.decision') IN ('true', 'false') THEN json_type(o, '$.decision') = 'true' "
    "WHEN json_type(o, '$.decision') = 'integer' AND json_extract(o, '$.decision') IN (0, 1) "
    "THEN json_extract(o, '$.decision') END")
SQLITE_COLUMNS = {
    # whole seconds, as `WindowGrid` counts them; every row is at or after the period's start (on the grid)
    "k": "(CAST(strftime('%s', served_at) AS INTEGER) - :origin) / :size",
    "prediction": f"CASE WHEN :positive AND json_type(o, '$.score_of') IS NULL AND ({SQLITE_DECISION}) IS NULL "
                  "THEN o -> '$.prediction' END",
    "ood": "CASE WHEN json_extract(o, '$.out_of_domain') IS NOT NULL THEN 1 ELSE 0 END",
    "items": "CASE WHEN json_type(o) = 'array' OR json_type(o, '$.items') = 'array' THEN 1 ELSE 0 END",
}
SQLITE_ROWS = ("(SELECT model_version_id, served_at, payload_hash, output_json AS o FROM predictions "
               "WHERE system = :system AND served_at >= :low AND served_at < :end) p")


# One probe of the payload's key per row counted, never a scan of every payload: a hash join (the
# planner's choice for 100,000 rows) reads all of them however few rows are counted, 3 s of server
# CPU at 5 million against 1 s for the probes. The page's cost follows the rows counted, not the ledger.
PAYLOAD = "(SELECT pp.sensitive_json FROM prediction_payloads pp WHERE pp.payload_hash = p.payload_hash)"


@dataclass(frozen=True)
class Cell:
    """The predictions of one window, version, decision and set of sensitive attributes."""

    window: datetime  # the start of its window
    version_id: str  # model_version_id
    decision: int | None  # 1 favourable, 0 not, None: not read in SQL (see `prediction`) or no decision
    prediction: str | None  # JSON text of output.prediction when only it can decide (a positive label given)
    sensitive: str | None  # sensitive_json as stored; None when the payload was purged
    n: int  # predictions
    out_of_domain: int  # of those, flagged out of domain
    with_items: int  # of those, a recommended list (exposure reads them)


def decided(cell: Cell, positive_label: Any) -> int | None:
    """The cell's decision: as read in SQL, else (an output only its ``prediction`` decides) that
    prediction against the positive label, as `dashboard_figures.decision_of` compares them."""
    if cell.decision is not None or cell.prediction is None:
        return cell.decision
    return decision_of({"prediction": json.loads(cell.prediction)}, positive_label)


def _query(dialect: str) -> str:
    pg = dialect == "postgresql"
    decision, columns, rows = (PG_DECISION, PG_COLUMNS, PG_ROWS) if pg else (SQLITE_DECISION, SQLITE_COLUMNS, SQLITE_ROWS)
    read = ", ".join(f"{expression} AS {name}" for name, expression in columns.items())
    return (f"SELECT model_version_id, k, decision, prediction, sensitive_json, count(*), sum(ood), sum(items) "
            f"FROM (SELECT p.model_version_id, {decision} AS decision, {read}, {PAYLOAD} AS sensitive_json "
            f"FROM {rows}) cells "
            f"GROUP BY model_version_id, k, decision, prediction, sensitive_json")


def cells(conn: Connection, system: str, *, start: datetime, size: timedelta, end: datetime,
          low: datetime | None = None, positive_label_given: bool = False) -> list[Cell]:
    """The cells of ``system``'s predictions in ``[low or start, end)``, windows of ``size`` from ``start``
    (a window start on the grid: every window index is whole and not negative)."""
    sql = _query(conn.dialect.name)
    if conn.dialect.name == "postgresql":
        # Compiling this plan (its cost estimate passes jit_above_cost) takes longer than running it
        # uncompiled over 100,000 rows: half a second of server CPU. For this transaction only.
        conn.exec_driver_sql("SET LOCAL jit = off")
    query = text(sql).bindparams(*(bindparam(name, type_=UTCDateTime) for name in ("start", "low", "end") if f":{name}" in sql))
    origin, seconds = int(start.timestamp()), int(size.total_seconds())
    rows = conn.execute(query, {"system": system, "start": start, "origin": origin, "size": seconds,
                                "positive": positive_label_given, "low": low or start, "end": end}).all()
    windows: dict[Any, datetime] = {}
    for k in {row[1] for row in rows}:  # PostgreSQL: the window's start (date_bin); SQLite: its index
        windows[k] = k.astimezone(UTC) if isinstance(k, datetime) else datetime.fromtimestamp(origin + k * seconds, UTC)
    return [Cell(windows[k], mv, None if d is None else int(d), p, s, int(n), int(ood or 0), int(items or 0))
            for mv, k, d, p, s, n, ood, items in rows]
