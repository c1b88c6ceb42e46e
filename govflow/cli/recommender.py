"""`govflow recommender train | recommend`: the recommendation scenario from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from govflow.cli.context import ctx
from govflow.cli.output import progress
from govflow.errors import InputError


def train(
    typer_ctx: typer.Context,
    config: Annotated[Path, typer.Option("-c", "--config", help="The recommender's govflow.yaml.")],
) -> None:
    """Fit, evaluate against the popularity baseline, register a candidate and record its gate decision."""
    from govflow.flows import recording
    from govflow.flows.recommender_flow import load_recommender_config, train_recommender_flow

    cfg = load_recommender_config(config)
    recording.set_ledger(ctx(typer_ctx).ledger())
    typer.echo(f"training {cfg.system.name} on {cfg.path('inter')} ...")
    with progress(f"training {cfg.system.name}"):
        outcome = train_recommender_flow(str(config))
    s = outcome.evaluation.summary
    typer.echo(f"registered {outcome.version} as candidate: hit rate at {s['top_n']} {s['hit_rate']:.3f} "
               f"(popularity baseline {s['popularity_hit_rate']:.3f}, {s['users']} users); gate {outcome.gate.upper()}")
    if outcome.gate != "pass":
        raise typer.Exit(1)
    typer.echo(f"next: govflow approve {outcome.version} --as NAME --role ROLE --reason TEXT, then govflow promote")


def recommend(
    typer_ctx: typer.Context,
    system: Annotated[str, typer.Argument(help="The recommender system's name.")],
    user: Annotated[str, typer.Option("--user", help="The user id.")],
    sensitive: Annotated[list[str] | None, typer.Option("--sensitive", help="ATTRIBUTE=VALUE, e.g. gender=F, age=24.")] = None,
) -> None:
    """Recommend to one user with the version in production, logged like a served prediction."""
    from govflow.flows.recommender_flow import load_production_recommender
    from govflow.flows.recommender_flow import recommend as run

    attributes: dict[str, object] = {}
    for item in sensitive or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise InputError(f"--sensitive {item}: write ATTRIBUTE=VALUE, e.g. gender=F")
        attributes[key] = int(value) if value.isascii() and value.isdigit() else value
    ledger = ctx(typer_ctx).ledger()
    served = load_production_recommender(ledger, system)
    user_id = int(user) if user.isascii() and user.isdigit() and served.schema.features[0].type == "integer" else user
    body = run(ledger, served, [{"user_id": user_id, "sensitive": attributes}], caller="cli")
    typer.echo(json.dumps(body, indent=1))
