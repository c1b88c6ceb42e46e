"""The prediction log summed per hour (``prediction_rollup``): what the dashboard's system page reads (#19 item 3).

A page over a month of a busy system would otherwise count millions of predictions each time it is
opened. Instead each batch of the prediction log adds its predictions to the cells they fall in, in
the transaction that writes them (`add_records`): per system, hour of ``served_at``, model version and
decision, one cell for every prediction (``attribute`` ``""``, ``label`` ``"all"``, with how many were
out of domain and how many answered with a recommended list) and one per sensitive attribute's group.
The page then reads a few rows per hour, however many predictions there were.

What a cell holds is what the page would count from the rows themselves, in the same words:
`govflow.governance.trail.dashboard_figures.decision_of` with the answering version's positive label,
and `group_labels` with that version's bins (a `Reading`). A page whose newest version reads
differently (new bins, another positive label) cannot use cells counted the old way and counts rows
instead (`govflow.governance.trail.dashboard_data`). A purge of payloads takes the purged predictions
out of their groups' cells in the purge's own transaction (they count as "no group" afterwards, as the
rows say), never out of the hour's total.

The table is not chained: it is a sum, and `govflow verify` recounts it from the chained predictions
(`recount`, `compare`): a cell edited, added or removed behind the ledger is a finding.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, delete, select, tuple_
from sqlalchemy.sql.elements import ColumnElement

from govflow import canonical as canon
from govflow.governance.ledger.rollup_table import PredictionRollup
from govflow.governance.ledger.schema import ModelVersion, Prediction, PredictionPayload, PurgedPayload
from govflow.governance.trail.dashboard_figures import (
    MISSING,
    OUTSIDE,
    decision_of,
    group_labels,
    sensitive_spec,
)

try:
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - orjson comes with the pinned stack
    _loads = json.loads  # type: ignore[assignment]

HOUR = timedelta(hours=1)
NO_DECISION = -1
OVERALL = ("", "all")
ROLLUP = PredictionRollup.__table__


@dataclass(frozen=True)
class Reading:
    """How one version's predictions are counted: its sensitive attributes' bins, its positive label."""

    bins: tuple[tuple[str, tuple[float, ...] | None], ...]  # per attribute (sorted), its bins or None
    positive: str | None  # the canonical JSON of data.positive_label; None: not given

    @classmethod
    def of(cls, snapshot: Mapping[str, Any]) -> Reading:
        return cls.given(sensitive_spec(snapshot), (snapshot.get("data") or {}).get("positive_label"))

    @classmethod
    def given(cls, spec: Mapping[str, Sequence[float] | None], positive_label: Any) -> Reading:
        return cls(tuple(sorted((a, None if b is None else tuple(b)) for a, b in spec.items())),
                   None if positive_label is None else canon.canonical(positive_label).decode("utf-8"))

    @property
    def spec(self) -> dict[str, list[float] | None]:
        return {a: None if b is None else list(b) for a, b in self.bins}

    @property
    def positive_label(self) -> Any:
        return None if self.positive is None else json.loads(self.positive)


UNREGISTERED = Reading((), None)  # a prediction of a version the ledger does not hold: no bins, no label
_readings: dict[str, Reading] = {}  # a version's config snapshot is chained: it never changes


def readings(conn: Connection, version_ids: Iterable[str]) -> dict[str, Reading]:
    """The `Reading` of each version id (its config snapshot's), read once per process."""
    wanted = set(version_ids)
    missing = wanted - set(_readings)
    if missing:
        if len(_readings) > 10_000:
            _readings.clear()
        found = conn.execute(select(ModelVersion.id, ModelVersion.config_snapshot).where(ModelVersion.id.in_(sorted(missing))))
        for version_id, snapshot in found:
            _readings[version_id] = Reading.of(json.loads(snapshot))
    return {v: _readings.get(v, UNREGISTERED) for v in wanted}


def cell_of(attribute: str, label: str) -> str:
    """The key of a group's cell: the hash of ``[attribute, label]`` (a group value may be any length)."""
    return hashlib.sha256(canon.canonical([attribute, label])).hexdigest()


OVERALL_CELL = cell_of(*OVERALL)
Key = tuple[str, datetime, str, int, str]  # system, hour, model version id, decision, cell


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


class Sums:
    """Cells being summed: key -> [predictions, out of domain, with a recommended list]."""

    def __init__(self) -> None:
        self.cells: dict[Key, list[int]] = {}
        self.names: dict[str, tuple[str, str]] = {OVERALL_CELL: OVERALL}
        self._hours: dict[datetime, datetime] = {}
        self._outputs: dict[str | None, dict[str, tuple[int, int, int]]] = {}
        self._groups: dict[Reading, dict[str, tuple[str, ...]]] = {}
        self._last: tuple[Reading | None, dict[str, tuple[str, ...]]] = (None, {})

    def add(self, system: str, served_at: datetime, version_id: str, output_json: str, sensitive_json: str | None,
            reading: Reading, sign: int = 1, overall: bool = True) -> None:
        """One prediction (``sign`` -1: taken out); ``overall`` False: its groups' cells only (a purge)."""
        hour = self._hours.get(served_at)
        if hour is None:
            if len(self._hours) > 100_000:
                self._hours.clear()
            hour = self._hours[served_at] = hour_of(served_at)
        outputs = self._outputs.get(reading.positive)
        if outputs is None:
            outputs = self._outputs[reading.positive] = {}
        read = outputs.get(output_json)
        if read is None:
            if len(outputs) > 100_000:
                outputs.clear()
            read = outputs[output_json] = _read_output(output_json, reading)
        decision, ood, items = read
        cells = self.cells
        if overall:
            key = (system, hour, version_id, decision, OVERALL_CELL)
            sums = cells.get(key)
            if sums is None:
                sums = cells[key] = [0, 0, 0]
            sums[0] += sign
            sums[1] += sign * ood
            sums[2] += sign * items
        if sensitive_json and sensitive_json != "{}":
            for cell in self._cells_of(sensitive_json, reading):
                key = (system, hour, version_id, decision, cell)
                sums = cells.get(key)
                if sums is None:
                    sums = cells[key] = [0, 0, 0]
                sums[0] += sign

    def _cells_of(self, sensitive_json: str, reading: Reading) -> tuple[str, ...]:
        if reading is self._last[0]:  # the batch's one version, mostly: no hash of its bins per row
            known = self._last[1]
        else:
            known = self._groups.setdefault(reading, {})
            self._last = (reading, known)
        found = known.get(sensitive_json)
        if found is None:
            if len(known) > 100_000:
                known.clear()
            try:
                labels = group_labels(json.loads(sensitive_json), reading.spec)
            except (ValueError, AttributeError):  # not a JSON object: edited behind the ledger (verify names it)
                labels = {}
            cells: list[str] = []
            for attribute, label in labels.items():
                if label in (MISSING, OUTSIDE):  # counted in no group's rate (`tally_rates`)
                    continue
                # PostgreSQL's text holds no NUL: as the page's own reading of the JSON (`search_sql.nul_safe`) says it
                attribute, label = attribute.replace("\x00", "\ufffd"), label.replace("\x00", "\ufffd")
                cell = cell_of(attribute, label)
                self.names[cell] = (attribute, label)
                cells.append(cell)
            found = known[sensitive_json] = tuple(cells)
        return found

    def nonzero(self) -> dict[Key, tuple[int, int, int]]:
        return {key: (n, ood, items) for key, (n, ood, items) in self.cells.items() if n or ood or items}


def _read_output(output_json: str, reading: Reading) -> tuple[int, int, int]:
    """(decision: 1, 0 or -1 for none; out of domain 0/1; a recommended list 0/1), as the page reads them."""
    try:
        output = _loads(output_json)
    except ValueError:  # not JSON: edited behind the ledger (verify names the row); counted, decided nothing
        return NO_DECISION, 0, 0
    decision = decision_of(output, reading.positive_label)
    is_map = isinstance(output, dict)
    ood = int(is_map and output.get("out_of_domain") is not None)
    items = int(isinstance(output, list) or (is_map and isinstance(output.get("items"), list)))
    return NO_DECISION if decision is None else decision, ood, items


# -- writing ------------------------------------------------------------------------------------

def add_records(conn: Connection, records: Sequence[Any]) -> None:
    """Add a batch's logged predictions (`PredictionRecord`s) to their cells, in the caller's transaction."""
    if not records:
        return
    read = readings(conn, {r.model_version_id for r in records})
    sums = Sums()
    for r in records:
        sums.add(r.system, r.served_at, r.model_version_id, r.output_json, r.sensitive_json, read[r.model_version_id])
    upsert(conn, sums)


def add_entry(conn: Connection, seq: int) -> None:
    """Add the predictions audit entry ``seq`` wrote (any other way than `add_records`) to their cells."""
    upsert(conn, recount(conn, [Prediction.audit_seq == seq]))


def take_out_purged(conn: Connection, seq: int) -> None:
    """Before the payloads audit entry ``seq`` tombstones are deleted: their predictions leave their
    groups' cells (in the purge's transaction; the hour's total keeps them)."""
    rows = conn.execute(select(Prediction.system, Prediction.served_at, Prediction.model_version_id,
                               Prediction.output_json, PredictionPayload.sensitive_json)
                        .join(PredictionPayload, PredictionPayload.payload_hash == Prediction.payload_hash)
                        .where(PredictionPayload.payload_hash.in_(
                            select(PurgedPayload.payload_hash).where(PurgedPayload.audit_seq == seq)))).all()
    if not rows:
        return
    read = readings(conn, {r[2] for r in rows})
    sums = Sums()
    for system, served_at, version_id, output_json, sensitive_json in rows:
        sums.add(system, served_at, version_id, output_json, sensitive_json, read[version_id], sign=-1, overall=False)
    upsert(conn, sums)
    emptied = [key for key, (n, _, _) in sums.cells.items() if n]
    for part in range(0, len(emptied), 500):
        conn.execute(delete(PredictionRollup).where(_keys_in(emptied[part:part + 500]), PredictionRollup.n == 0))


def _keys_in(keys: Sequence[Key]) -> ColumnElement[bool]:
    t = PredictionRollup
    return tuple_(t.system, t.hour, t.model_version_id, t.decision, t.cell).in_(keys)


def upsert(conn: Connection, sums: Sums) -> None:
    """Add each cell's sums to its row (inserted when new)."""
    rows = [{"system": s, "hour": h, "model_version_id": v, "decision": d, "cell": c,
             "attribute": sums.names[c][0], "label": sums.names[c][1], "n": n, "out_of_domain": ood, "with_items": items}
            for (s, h, v, d, c), (n, ood, items) in sums.cells.items() if n or ood or items]
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    statement = insert(PredictionRollup)
    statement = statement.on_conflict_do_update(
        index_elements=[c.name for c in ROLLUP.primary_key.columns],  # type: ignore[attr-defined]
        set_={name: getattr(PredictionRollup, name) + getattr(statement.excluded, name)
              for name in ("n", "out_of_domain", "with_items")})
    conn.execute(statement, rows)


# -- reading ------------------------------------------------------------------------------------

class Row(NamedTuple):
    hour: datetime
    version_id: str
    decision: int  # 1, 0, or NO_DECISION
    attribute: str  # "" for every prediction
    label: str  # "all" for every prediction
    n: int
    out_of_domain: int
    with_items: int


def rows(conn: Connection, system: str, low: datetime, high: datetime) -> list[Row]:
    """The cells of ``system``'s hours in ``[low, high)``."""
    t = PredictionRollup
    found = conn.execute(select(t.hour, t.model_version_id, t.decision, t.attribute, t.label, t.n, t.out_of_domain,
                                t.with_items).where(t.system == system, t.hour >= low, t.hour < high))
    return [Row(*r) for r in found]


# -- verifying ----------------------------------------------------------------------------------

def recount(conn: Connection, where: Sequence[ColumnElement[bool]] = ()) -> Sums:
    """The cells as the chained predictions (``where``) and their payloads give them, streamed (a
    payload with a purge tombstone counts as purged, even when a copy was put back)."""
    sums = Sums()
    purged = select(PurgedPayload.id).where(PurgedPayload.payload_hash == Prediction.payload_hash).exists()
    rows = conn.execute(  # streamed by this statement only (a connection's own options would stay set)
        select(Prediction.system, Prediction.served_at, Prediction.model_version_id, Prediction.output_json,
               PredictionPayload.sensitive_json, purged)
        .outerjoin(PredictionPayload, PredictionPayload.payload_hash == Prediction.payload_hash).where(*where)
        .execution_options(stream_results=True, yield_per=5000))
    read: dict[str, Reading] = {}
    for system, served_at, version_id, output_json, sensitive_json, gone in rows:
        reading = read.get(version_id)
        if reading is None:
            reading = read[version_id] = readings(conn, [version_id])[version_id]
        sums.add(system, served_at, version_id, output_json, None if gone else sensitive_json, reading)
    return sums


def stored(conn: Connection, where: Sequence[ColumnElement[bool]] = ()) -> dict[Key, tuple[int, int, int]]:
    t = PredictionRollup
    found = conn.execute(select(t.system, t.hour, t.model_version_id, t.decision, t.cell, t.n, t.out_of_domain,
                                t.with_items).where(*where))
    return {(s, h, v, d, c): (n, ood, items) for s, h, v, d, c, n, ood, items in found if n or ood or items}


@dataclass(frozen=True)
class Difference:
    key: Key
    want: tuple[int, int, int]  # as the predictions give it
    have: tuple[int, int, int]  # as the table holds it

    def describe(self) -> str:
        system, hour, version_id, decision, _ = self.key
        what = {1: "favourable", 0: "unfavourable", NO_DECISION: "no decision"}.get(decision, str(decision))
        return (f"{system}, hour {canon.format_ts(hour)}, version {version_id}, {what}: the summary holds "
                f"{_sums(self.have)}, the predictions give {_sums(self.want)}")


def _sums(value: tuple[int, int, int]) -> str:
    n, ood, items = value
    return f"{n} (out of domain {ood}, lists {items})" if ood or items else str(n)


def compare(recounted: Sums, have: Mapping[Key, tuple[int, int, int]]) -> list[Difference]:
    want = recounted.nonzero()
    return [Difference(key, want.get(key, (0, 0, 0)), have.get(key, (0, 0, 0)))
            for key in sorted(set(want) | set(have), key=lambda k: (k[0], k[1], k[2], k[3], k[4]))
            if want.get(key) != have.get(key)]


def hour_ranges(hours: Iterable[tuple[str, datetime]]) -> list[tuple[str, datetime, datetime]]:
    """Per system, its runs of consecutive hours as ``served_at`` ranges (what `verify --since` recounts)."""
    by_system: dict[str, list[datetime]] = {}
    for system, hour in hours:
        by_system.setdefault(system, []).append(hour)
    ranges = []
    for system, found in sorted(by_system.items()):
        ordered = sorted(set(found))
        low = high = ordered[0]
        for hour in ordered[1:]:
            if hour != high + HOUR:
                ranges.append((system, low, high + HOUR))
                low = hour
            high = hour
        ranges.append((system, low, high + HOUR))
    return ranges


def predictions_in(system: str, low: datetime, high: datetime) -> ColumnElement[bool]:
    return and_(Prediction.system == system, Prediction.served_at >= low, Prediction.served_at < high)


def cells_in(system: str, low: datetime, high: datetime) -> ColumnElement[bool]:
    return and_(PredictionRollup.system == system, PredictionRollup.hour >= low, PredictionRollup.hour < high)


def rebuild(conn: Connection) -> int:
    """Every cell recounted from the predictions (the migration that creates the table). Returns the cells."""
    conn.execute(delete(PredictionRollup))
    sums = recount(conn)
    upsert(conn, sums)
    return len(sums.nonzero())

