"""`govflow policy approve | history | show`: the policy in force for a system, a ledger record.

See `govflow.governance.registry.policy_in_force`: a gate stops while the config's policy differs
from the one in force; a person with the policy's owning role puts a change in force here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from govflow.cli.context import ConfigOption, ctx

NOTHING_IN_FORCE = ("no policy in force for {system} yet: the first gate decision puts its config's policy in force "
                    "(or put one in force first with `govflow policy approve -c govflow.yaml`)")


def policy_approve(
    typer_ctx: typer.Context,
    approver: Annotated[str, typer.Option("--as", help="Your name, as it should stand in the record.")],
    role: Annotated[str, typer.Option("--role", help="Your role: the policy's owning role (policy.owner_role, default risk_officer).")],
    reason: Annotated[str, typer.Option("--reason", help="Why the policy changes: it is part of the record.")],
    config: ConfigOption = Path("govflow.yaml"),
) -> None:
    """Put the policy of govflow.yaml in force for its system (the gate applies no other)."""
    from govflow.governance.registry.policy_in_force import approve_policy
    from govflow.governance.registry.versions import os_user

    system, content, anchors = config_policy(config)
    c = ctx(typer_ctx)
    c.anchors_config = anchors
    outcome = approve_policy(c.ledger(), system, content, approver=approver, role=role, reason=reason, os_user=os_user())
    typer.echo(outcome.describe() + (f", by {approver} ({role})" if outcome.recorded else ""))


def config_policy(config: Path) -> tuple[str, dict[str, Any], Any]:
    """``(system, policy as its gate records it, the config for anchoring)`` of a classifier's or a recommender's config."""
    from govflow.governance.strict_yaml import load_yaml

    if config.is_file():
        raw = load_yaml(config)
        if isinstance(raw, dict) and raw.get("kind") == "recommender":
            from govflow.flows.recommender_flow import gate_policy, load_recommender_config

            recommender = load_recommender_config(config)
            return recommender.system.name, gate_policy(recommender), None
    from govflow.governance.config import load_config

    loaded = load_config(config)
    return loaded.system.name, loaded.policy_model().to_dict(), loaded


def policy_history(
    typer_ctx: typer.Context,
    system: Annotated[str, typer.Argument(metavar="SYSTEM", help="The system's name (system.name).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON: every policy put in force, in full.")] = False,
) -> None:
    """Every policy put in force for a system, oldest first: who, when, why, and the bounds that changed."""
    from govflow.governance.registry.policy_in_force import history, history_lines

    with ctx(typer_ctx).ledger().read() as conn:
        items = history(conn, system)
    if as_json:
        typer.echo(json.dumps([item.to_dict() for item in items], indent=2, sort_keys=True))
        return
    if not items:
        typer.echo(NOTHING_IN_FORCE.format(system=system))
        return
    for line in history_lines(items):
        typer.echo(line)
    typer.echo(f"in force: {items[-1].policy_hash}")


def policy_show(
    typer_ctx: typer.Context,
    system: Annotated[str, typer.Argument(metavar="SYSTEM", help="The system's name (system.name).")],
) -> None:
    """The policy in force for a system, in full (JSON)."""
    from govflow.errors import InputError
    from govflow.governance.registry.policy_in_force import in_force

    with ctx(typer_ctx).ledger().read() as conn:
        current = in_force(conn, system)
    if current is None:
        raise InputError(NOTHING_IN_FORCE.format(system=system))
    typer.echo(json.dumps(current.to_dict(), indent=2, sort_keys=True))
