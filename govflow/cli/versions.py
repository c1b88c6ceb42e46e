"""`govflow versions NAME`: a system's versions with their stage, gate result, approvals and time in
production (the registry view MLflow users know)."""

from __future__ import annotations

import json
import textwrap
from typing import TYPE_CHECKING, Annotated, Any

import typer

from govflow.cli.context import JsonOpt, ctx
from govflow.cli.output import WIDTH, emit_json, paint, say, verdict, when
from govflow.errors import InputError

if TYPE_CHECKING:
    from sqlalchemy import Connection

NOT_A_NAME = "'{name}' is a version reference; give the system's name alone, e.g. govflow versions {system}"
COLUMNS = f"  {'VERSION':<8} {'STAGE':<11} {'GATE':<6} {'IN PRODUCTION SINCE':<21} APPROVALS"
INDENT = len(COLUMNS) - len("APPROVALS")


def version_views(conn: Connection, system: str) -> list[dict[str, Any]]:
    """Each recorded version of ``system``, oldest first, as the ledger states it now."""
    from sqlalchemy import select

    from govflow import canonical as canon
    from govflow.governance.ledger.chained import chained
    from govflow.governance.ledger.schema import ModelVersion, StageChange
    from govflow.governance.registry import versions as registry

    registry.resolve(conn, f"{system}:latest")  # an unknown system is refused with the registry's own words
    views = []
    for row in conn.execute(select(ModelVersion.id, ModelVersion.version, ModelVersion.created_at)
                            .where(ModelVersion.system == system, chained(ModelVersion)).order_by(ModelVersion.version)):
        stage = registry.current_stage(conn, row.id)
        decision = registry.latest_decision(conn, row.id)
        since = None
        if stage == "production":
            since = conn.execute(select(StageChange.at).where(
                StageChange.model_version_id == row.id, StageChange.stage == "production", chained(StageChange))
                .order_by(StageChange.audit_seq.desc()).limit(1)).scalar()
        approvals = sorted(registry.approvals_in_force(conn, row.id).values(), key=lambda a: a["role"])
        views.append({
            "version": f"{system}:{row.version}", "number": row.version, "stage": stage,
            "registered_at": canon.format_ts(row.created_at),
            "gate": None if decision is None else {
                "outcome": decision["outcome"], "decided_at": canon.format_ts(decision["decided_at"]),
                "policy_hash": decision["policy_hash"], "reasons": json.loads(decision["reasons_json"])},
            "approvals": [{"role": a["role"], "decision": a["decision"], "by": a["approver"],
                           "at": canon.format_ts(a["decided_at"]), "reason": a["rationale"]} for a in approvals],
            "in_production_since": None if since is None else canon.format_ts(since),
        })
    return views


def _row(view: dict[str, Any]) -> list[str]:
    """One version as lines: the columns, then its approvals wrapped at spaces within 100 columns."""
    gate = "-" if view["gate"] is None else view["gate"]["outcome"]
    stage = view["stage"] or "-"
    head = (f"  {view['number']:<8} {verdict(f'{stage:<11}')} {verdict(f'{gate:<6}')} "
            f"{when(view['in_production_since']):<21} ")
    # One approval is cut only when it alone is too long: its spaces are held together while wrapping.
    approvals = ", ".join(f"{a['role']} {'approved' if a['decision'] == 'approve' else 'rejected'} by {a['by']}"
                          .replace(" ", "\0") for a in view["approvals"]) or "-"
    lines = [line.replace("\0", " ") for line in textwrap.wrap(approvals, width=WIDTH - INDENT, break_long_words=False,
                                                               break_on_hyphens=False)]
    painted = [line.replace("approved", verdict("approved")).replace("rejected", verdict("rejected")) for line in lines]
    return [head + painted[0], *(" " * INDENT + line for line in painted[1:])]


def versions(
    typer_ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The system's name (system.name in its govflow.yaml).")],
    as_json: JsonOpt = False,
) -> None:
    """A system's versions: stage, gate result, approvals, and since when one is in production."""
    if ":" in name:
        raise InputError(NOT_A_NAME.format(name=name, system=name.rpartition(":")[0]))
    with ctx(typer_ctx).ledger().read() as conn:
        views = version_views(conn, name)
    if as_json:
        emit_json({"system": name, "versions": views})
        return
    live = [v for v in views if v["stage"] == "production"]
    where = f"; in production: {live[-1]['version']}" if live else "; none in production"
    say(paint(f"{name}: {len(views)} version(s){where}", bold=True))
    say(paint(COLUMNS, bold=True))
    for view in reversed(views):  # newest first, as registries list them
        for line in _row(view):
            say(line)
