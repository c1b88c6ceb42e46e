"""Whether a gate decision counts: made by a run that gated that very version and completed.

The gate records its decision, then generates and stores the version's documents, then records its
own final state. A process killed in between leaves a decision with no documents and a flow run with
no final state; such a decision must not let a version be approved or promoted. A decision counts
only when the flow run that recorded it (the parent of the recording task) gated that version (its
check results or files are linked to it), reached ``completed`` in ``run_states``, and, for the
``gate`` flow, stored the version's documents. Only the latest decision is ever considered, so a
later block overrides an earlier pass, and a later crashed run an earlier completed one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, select

from govflow.governance.ledger.chained import chained
from govflow.governance.ledger.schema import Artifact, CheckResultRow, ModelVersion, Run, RunState

# The documents a flow that decides must have stored for the version before its decision counts.
REQUIRED_DOCUMENTS: dict[str, tuple[str, ...]] = {"gate": ("model_card", "annex_iv")}
CRASHED = "crashed: no final state recorded"
RERUN = "re-run the gate: govflow run gate -c govflow.yaml --version {number}"


def flow_run_id(conn: Connection, run_id: str | None) -> str | None:
    """The flow run a recorded task belongs to (a flow run is its own); None outside any flow."""
    if not run_id:
        return None
    row = conn.execute(select(Run.kind, Run.parent_run_id).where(Run.id == run_id, chained(Run))).first()
    if row is not None and row[0] == "task" and row[1]:
        parent = row[1]
        row = conn.execute(select(Run.kind, Run.parent_run_id).where(Run.id == parent, chained(Run))).first()
        run_id = parent
    return str(run_id) if row is not None and row[0] == "flow" else None


def final_state(conn: Connection, run_id: str) -> tuple[str | None, str | None]:
    """``(state, error)`` of the run's latest state row; ``running`` (or None) means it never ended."""
    row = conn.execute(select(RunState.state, RunState.error_type, RunState.error_message)
                       .where(RunState.run_id == run_id, chained(RunState))
                       .order_by(RunState.audit_seq.desc()).limit(1)).first()
    if row is None:
        return None, None
    error = f"{row[1]}: {(row[2] or '').strip().splitlines()[0] if row[2] else ''}" if row[1] else None
    return str(row[0]), error


def _versions_touched(conn: Connection, run_ids: list[str]) -> set[str]:
    checks = conn.execute(select(CheckResultRow.model_version_id).where(
        CheckResultRow.run_id.in_(run_ids), CheckResultRow.model_version_id.isnot(None), chained(CheckResultRow))).scalars()
    files = conn.execute(select(Artifact.model_version_id).where(
        Artifact.produced_by_run_id.in_(run_ids), Artifact.model_version_id.isnot(None), chained(Artifact))).scalars()
    return {str(v) for v in (*checks, *files)}


def _labels(conn: Connection, ids: set[str]) -> str:
    rows = conn.execute(select(ModelVersion.system, ModelVersion.version).where(ModelVersion.id.in_(sorted(ids)))
                        .order_by(ModelVersion.system, ModelVersion.version)).all()
    return ", ".join(f"{system}:{number}" for system, number in rows) or "no known version"


def why_not_counted(conn: Connection, version: Any, decision: Mapping[Any, Any]) -> str | None:
    """Why ``decision`` (the latest for ``version``, a `VersionRef`) does not count, or None when it does."""
    rerun = RERUN.format(number=version.version)
    flow_id = flow_run_id(conn, decision.get("run_id"))
    if flow_id is None:
        return f"the gate decision for {version} names no gate run; {rerun}"
    runs = [flow_id, *conn.execute(select(Run.id).where(Run.parent_run_id == flow_id, chained(Run))).scalars()]
    touched = _versions_touched(conn, runs)
    if touched and version.id not in touched:
        return (f"the gate decision for {version} was not made by a gate run of {version} "
                f"(its run {flow_id} gated {_labels(conn, touched)}); {rerun}")
    state, error = final_state(conn, flow_id)
    if state in (None, "running"):
        return f"the gate run {flow_id} for {version} did not complete ({CRASHED}); {rerun}"
    if state != "completed":
        return f"the gate run {flow_id} for {version} {state}{f' ({error})' if error else ''}; {rerun}"
    name = conn.execute(select(Run.name).where(Run.id == flow_id)).scalar()
    required = REQUIRED_DOCUMENTS.get(str(name), ())
    if required:
        stored = set(conn.execute(select(Artifact.kind).where(
            Artifact.model_version_id == version.id, Artifact.produced_by_run_id.in_(runs), chained(Artifact))).scalars())
        missing = [kind for kind in required if kind not in stored]
        if missing:
            return f"the gate run {flow_id} for {version} stored no {', '.join(missing)} for it; {rerun}"
    return None
