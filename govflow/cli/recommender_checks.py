"""`govflow recommender check SYSTEM`: the recommender anomaly checks of the last window, and the incident
they open. Thin: `govflow.flows.recommender_monitor` does the work. `govflow.cli.main` adds it to the tree.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from govflow.cli.context import ctx
from govflow.errors import InputError

BAD_WINDOW = "--window {given}: a number of hours or days, e.g. 24h or 7d"


def _window(text: str) -> float:
    """Hours in ``text`` (``24h``, ``7d``)."""
    number, unit = text[:-1], text[-1:]
    if unit not in ("h", "d") or not number.isdigit() or int(number) < 1:
        raise InputError(BAD_WINDOW.format(given=text))
    return int(number) * (24 if unit == "d" else 1)


def check(
    typer_ctx: typer.Context,
    system: Annotated[str, typer.Argument(help="The recommender's system name.")],
    window: Annotated[str, typer.Option("--window", help="The window judged, e.g. 7d or 24h (the one before it is compared).")] = "7d",
    alert: Annotated[bool, typer.Option("--alert", help="Open (or add to) an incident when a check fails.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (every result).")] = False,
) -> None:
    """Exposure disparity, catalogue coverage, popularity concentration and shift of a recommender; exit 1 on a failure."""
    from datetime import timedelta

    from govflow.flows.recommender_monitor import alert_recommender, check_recommender
    from govflow.governance.registry.versions import os_user

    ledger = ctx(typer_ctx).ledger()
    found = check_recommender(ledger, system, window=timedelta(hours=_window(window)))
    incident = alert_recommender(ledger, found, by=f"govflow recommender check ({os_user()})") if alert else None
    if as_json:
        typer.echo(json.dumps({"version": found.version, "results": [r.to_dict() for r in found.results],
                               "incident": incident, "policy": found.policy}, indent=1))
    else:
        if found.policy:
            typer.echo(f"judged by {found.policy['cited']}")
        for r in found.results:
            verdict = {True: "pass", False: "FAIL", None: "not judged"}[r.passed]
            shown = "-" if r.observed is None else f"{r.observed:.3f}"
            typer.echo(f"{verdict:<10} {r.name} ({r.subject}): {shown} vs {r.threshold}")
        if incident:
            typer.echo(f"incident {incident['incident_id']} ({'opened' if incident['new'] else 'updated'})")
    if found.failures:
        raise typer.Exit(1)
