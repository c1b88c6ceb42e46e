"""The lineage graph over the ledger: runs, connected through the content they take and produce.

Nodes are runs (``runs``, with their state history) and entities (data sets, models, files,
artifacts), identified by fingerprint; an edge says that a run took (``input``) or produced
(``output``) an entity. Plain values (``entity_kind = 'value'``) are parameters, not lineage: two
runs given the same number are not connected, so they are never followed. Runs also nest (a task's
``parent_run_id`` is its flow's run; every run of one top-level flow shares its ``root_run_id``).

Read-only queries over a `Connection`; `govflow.governance.lineage.trace` builds the trees `govflow trace` prints
and `govflow.governance.lineage.openlineage` the events it exports.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, or_, select

from govflow.errors import InputError
from govflow.governance.ledger.fingerprint_schemes import SCHEME, SCHEMES
from govflow.governance.ledger.schema import CheckResultRow, DatasetVersion, Edge, ModelVersion, Run, RunState

LINEAGE_KINDS = ("dataset", "model", "file", "artifact")  # entity kinds that connect runs
MIN_PREFIX = 8

SHORT_PREFIX = "'{given}' is too short: give at least {n} characters of the {what}"
UNKNOWN_RUN = "no run in the ledger has an id (or a Prefect run id) starting with '{given}'"
AMBIGUOUS_RUN = "'{given}' matches {count} runs ({shown}); give more characters of the run id"
UNKNOWN_FINGERPRINT = "no data set, model or file in the ledger has a fingerprint starting with '{given}'"
AMBIGUOUS_FINGERPRINT = "'{given}' matches {count} fingerprints ({shown}); give more characters"


@dataclass(frozen=True)
class RunView:
    """One run with its current (latest) state."""

    id: str
    kind: str  # flow | task | command
    name: str
    parent_run_id: str | None
    root_run_id: str | None
    prefect_run_id: str | None
    prefect_flow_run_id: str | None
    attempt: int
    params: dict[str, Any]
    code_ref: str | None
    source_hash: str | None
    env: dict[str, str]
    config_hash: str | None
    started_at: datetime
    state: str  # running | completed | failed
    ended_at: datetime | None  # the time of the final state, None while running
    error_type: str | None
    error_message: str | None


@dataclass(frozen=True)
class EdgeView:
    run_id: str
    direction: str  # input | output
    role: str
    kind: str  # dataset | model | file | artifact | value
    fingerprint: str
    seq: int


@dataclass(frozen=True)
class Entity:
    """What the ledger knows about one piece of content."""

    fingerprint: str
    kind: str
    name: str  # a data set's recorded name; otherwise "<first producing step>.<role>"
    row_count: int | None = None
    schema: list[list[str]] | None = None  # [[column, dtype], ...]
    uri: str | None = None
    produced_by_run_id: str | None = None
    model_versions: tuple[str, ...] = field(default=())  # "system:version" registered with this content


def short(identifier: str | None, n: int = 12) -> str:
    """An id or fingerprint cut for display (the scheme prefix is kept)."""
    if identifier is None:
        return "-"
    scheme, sep, rest = identifier.partition(":")
    return f"{scheme}:{rest[:n]}" if sep and len(scheme) <= 4 else identifier[:n]


# -- runs --------------------------------------------------------------------------------------

def runs(conn: Connection, ids: Iterable[str]) -> dict[str, RunView]:
    """The runs with these ids (unknown ids are left out), with their latest state."""
    wanted = sorted(set(ids))
    out: dict[str, RunView] = {}
    for chunk in _chunks(wanted):
        rows = conn.execute(select(Run).where(Run.id.in_(chunk))).mappings().all()
        states: dict[str, Any] = {}
        for state_row in conn.execute(
            select(RunState).where(RunState.run_id.in_(chunk)).order_by(RunState.audit_seq, RunState.at)
        ).mappings():
            states[state_row["run_id"]] = state_row  # the last one wins: the current state
        for r in rows:
            st = states.get(r["id"]) or {"state": "running"}
            final = st["state"] != "running"
            out[r["id"]] = RunView(
                id=r["id"], kind=r["kind"], name=r["name"], parent_run_id=r["parent_run_id"],
                root_run_id=r["root_run_id"], prefect_run_id=r["prefect_run_id"],
                prefect_flow_run_id=r["prefect_flow_run_id"], attempt=int(r["attempt"] or 1),
                params=json.loads(r["params_json"] or "{}"), code_ref=r["code_ref"],
                source_hash=r["source_hash"], env=json.loads(r["env_json"] or "{}"),
                config_hash=r["config_hash"], started_at=r["started_at"],
                state=st["state"],
                ended_at=st["at"] if final else None,
                error_type=st["error_type"] if final else None,
                error_message=st["error_message"] if final else None,
            )
    return out


def children(conn: Connection, run_id: str) -> list[str]:
    """Direct child runs (a flow's tasks and subflows), oldest first."""
    return list(conn.execute(select(Run.id).where(Run.parent_run_id == run_id).order_by(Run.id)).scalars())


def descendants(conn: Connection, run_id: str) -> list[str]:
    """The run and every run nested under it, oldest first."""
    found, frontier = [run_id], [run_id]
    while frontier:
        nxt = list(conn.execute(select(Run.id).where(Run.parent_run_id.in_(frontier))).scalars())
        found += nxt
        frontier = nxt
    return sorted(set(found))


def job_names(conn: Connection, ids: Iterable[str]) -> dict[str, str]:
    """The OpenLineage job name of each run: a flow's name; ``<flow>.<task>`` for a task in a flow."""
    views = runs(conn, ids)
    parents = runs(conn, {v.parent_run_id for v in views.values() if v.parent_run_id} - set(views))
    everything = {**parents, **views}
    return {i: job_name(v.kind, v.name, everything.get(v.parent_run_id or "")) for i, v in views.items()}


def job_name(kind: str, name: str, parent: RunView | None) -> str:
    """A flow's name; ``<flow>.<task>`` for a task run inside a flow."""
    return f"{parent.name}.{name}" if kind == "task" and parent is not None else name


# -- edges and entities ------------------------------------------------------------------------

def _edge_views(rows: Iterable[Any]) -> list[EdgeView]:
    return [EdgeView(run_id=r.run_id, direction=r.direction, role=r.role, kind=r.entity_kind,
                     fingerprint=r.fingerprint, seq=int(r.audit_seq)) for r in rows]


def edges_of_runs(conn: Connection, ids: Iterable[str]) -> list[EdgeView]:
    """Every edge of these runs, in the order they were written."""
    out: list[EdgeView] = []
    for chunk in _chunks(sorted(set(ids))):
        out += _edge_views(conn.execute(select(Edge).where(Edge.run_id.in_(chunk)).order_by(Edge.audit_seq, Edge.id)))
    return sorted(out, key=lambda e: (e.seq, e.run_id))


def edges_of_content(conn: Connection, fingerprints: Iterable[str], direction: str | None = None) -> list[EdgeView]:
    """Every lineage edge (never plain values) that takes or produces this content."""
    out: list[EdgeView] = []
    for chunk in _chunks(sorted(set(fingerprints))):
        query = select(Edge).where(Edge.fingerprint.in_(chunk), Edge.entity_kind.in_(LINEAGE_KINDS))
        if direction:
            query = query.where(Edge.direction == direction)
        out += _edge_views(conn.execute(query.order_by(Edge.audit_seq, Edge.id)))
    return sorted(out, key=lambda e: (e.seq, e.run_id))


def entities(conn: Connection, fingerprints: Iterable[str]) -> dict[str, Entity]:
    """What is known about each fingerprint that is a data set, model, file or artifact."""
    wanted = sorted(set(fingerprints))
    out: dict[str, Entity] = {}
    registered: dict[str, list[str]] = {}
    for chunk in _chunks(wanted):
        for dv in conn.execute(select(DatasetVersion).where(DatasetVersion.fingerprint.in_(chunk))).mappings():
            out[dv["fingerprint"]] = Entity(
                fingerprint=dv["fingerprint"], kind="dataset", name=dv["name"], row_count=dv["row_count"],
                schema=json.loads(dv["schema_json"]) if dv["schema_json"] else None, uri=dv["uri"],
                produced_by_run_id=dv["produced_by_run_id"])
        for system, version, fp in conn.execute(
            select(ModelVersion.system, ModelVersion.version, ModelVersion.fingerprint)
            .where(ModelVersion.fingerprint.in_(chunk)).order_by(ModelVersion.version)
        ):
            registered.setdefault(fp, []).append(f"{system}:{version}")
    missing = [fp for fp in wanted if fp not in out]
    if missing:
        edges = edges_of_content(conn, missing)
        first_runs = runs(conn, {e.run_id for e in edges})
        for fp in missing:
            mine = [e for e in edges if e.fingerprint == fp]
            if not mine:
                continue
            # named after the step that first produced it, else the first that took it
            first = next((e for e in mine if e.direction == "output"), mine[0])
            step = first_runs[first.run_id].name if first.run_id in first_runs else "unknown"
            out[fp] = Entity(fingerprint=fp, kind=first.kind, name=f"{step}.{first.role}",
                             produced_by_run_id=first.run_id if first.direction == "output" else None)
    for fp, names in registered.items():
        if fp in out:
            ent = out[fp]
            out[fp] = Entity(**{**ent.__dict__, "model_versions": tuple(names)})
    return out


def checks_of_runs(conn: Connection, ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """The check results each run recorded, in recorded order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for chunk in _chunks(sorted(set(ids))):
        for row in conn.execute(
            select(CheckResultRow).where(CheckResultRow.run_id.in_(chunk))
            .order_by(CheckResultRow.audit_seq, CheckResultRow.id)
        ).mappings():
            out.setdefault(row["run_id"], []).append(dict(row))
    return out


# -- resolving what the user typed -------------------------------------------------------------

def resolve_run(conn: Connection, given: str) -> str:
    """A ledger run id from a full id or a unique prefix (>= 8 characters), or a Prefect run id."""
    text = given.strip().lower()
    if len(text) < MIN_PREFIX:
        raise InputError(SHORT_PREFIX.format(given=given, n=MIN_PREFIX, what="run id"))
    found = sorted(conn.execute(select(Run.id).where(Run.id.startswith(text, autoescape=True)).limit(6)).scalars())
    if not found:  # a Prefect run id, as the Prefect UI shows it: its latest recorded attempt
        prefect_ids = sorted(str(p) for p in conn.execute(
            select(Run.prefect_run_id).where(Run.prefect_run_id.startswith(text, autoescape=True)).distinct().limit(6)
        ).scalars())
        if len(prefect_ids) == 1:
            return str(conn.execute(select(Run.id).where(Run.prefect_run_id == prefect_ids[0])
                                    .order_by(Run.id.desc()).limit(1)).scalar_one())
        found = prefect_ids
    if not found:
        raise InputError(UNKNOWN_RUN.format(given=given))
    if len(found) > 1:
        raise InputError(AMBIGUOUS_RUN.format(given=given, count=_count(found), shown=_shown(found)))
    return found[0]


def resolve_fingerprint(conn: Connection, given: str) -> str:
    """A full fingerprint from itself or a unique prefix of at least 8 characters of its digest.

    ``fp2:3fa2b1c9...`` and ``3fa2b1c9...`` are both accepted; a bare digest prefix matches under
    every fingerprint scheme (``fp1`` in older ledgers, ``fp2``).
    """
    text = given.strip().lower()
    scheme, _, digest = text.partition(":") if ":" in text else ("", "", text)
    if len(digest) < MIN_PREFIX:
        raise InputError(SHORT_PREFIX.format(given=given, n=MIN_PREFIX,
                                             what=f"fingerprint (after '{scheme or SCHEME}:')"))
    patterns = [text] if ":" in text else [*(f"{s}:{text}" for s in SCHEMES), text]
    conds_dv = or_(*(DatasetVersion.fingerprint.startswith(p, autoescape=True) for p in patterns))
    conds_edge = or_(*(Edge.fingerprint.startswith(p, autoescape=True) for p in patterns))
    found = set(conn.execute(select(DatasetVersion.fingerprint).where(conds_dv).limit(6)).scalars())
    found |= set(conn.execute(
        select(Edge.fingerprint).where(conds_edge, Edge.entity_kind.in_(LINEAGE_KINDS)).distinct().limit(6)
    ).scalars())
    if not found:
        raise InputError(UNKNOWN_FINGERPRINT.format(given=given))
    if len(found) > 1:
        ordered = sorted(found)
        raise InputError(AMBIGUOUS_FINGERPRINT.format(given=given, count=_count(ordered), shown=_shown(ordered)))
    return found.pop()


def _count(found: list[str]) -> str:
    return f"{len(found)}" if len(found) <= 5 else "more than 5"


def _shown(found: list[str]) -> str:
    return ", ".join(short(f, 16) for f in found[:5]) + (", ..." if len(found) > 5 else "")


# -- the runs behind a model version -----------------------------------------------------------

def run_ids_for_model(conn: Connection, model_version_id: str) -> list[str]:
    """Every run that made or used a model version, and every run of the same top-level flows.

    The training run's whole tree (its ``root_run_id``), every run whose edges touch the model's
    fingerprint or the data it was trained on (the inputs of the runs that produced it), and all
    the runs that share a root with any of those. Oldest first (run ids are time-ordered).
    """
    mv = conn.execute(select(ModelVersion.fingerprint, ModelVersion.training_run_id)
                      .where(ModelVersion.id == model_version_id)).one()
    fingerprint, training_run_id = mv[0], mv[1]
    seeds: set[str] = set()
    if training_run_id:
        seeds.add(training_run_id)
    touching = edges_of_content(conn, [fingerprint])
    seeds |= {e.run_id for e in touching}
    producers = {e.run_id for e in touching if e.direction == "output"}
    training_inputs = {e.fingerprint for e in edges_of_runs(conn, producers)
                       if e.direction == "input" and e.kind in LINEAGE_KINDS}
    seeds |= {e.run_id for e in edges_of_content(conn, training_inputs)}
    roots = {v.root_run_id or v.id for v in runs(conn, seeds).values()}
    every = set(seeds) | roots
    for chunk in _chunks(sorted(roots)):
        every |= set(conn.execute(select(Run.id).where(Run.root_run_id.in_(chunk))).scalars())
    return sorted(every)


def _chunks(items: list[str], size: int = 500) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
