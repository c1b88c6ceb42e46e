"""`govflow demo`: a whole scenario on bundled real data (the stories live in `govflow.demo`)."""

from __future__ import annotations

import typer

from govflow.cli.context import ctx


def demo(
    typer_ctx: typer.Context,
    scenario: str = typer.Option("credit", "--scenario", help="credit (German credit) or employment (ACS)."),
) -> None:
    """Run a whole scenario on bundled real data and tell what happened."""
    from govflow.flows import recording

    if scenario not in ("credit", "employment"):
        raise typer.BadParameter("choose credit or employment", param_hint="--scenario")
    context = ctx(typer_ctx)
    ledger = context.ledger()
    recording.set_ledger(ledger)
    if scenario == "employment":
        from govflow.demo.employment import run_employment_demo

        run_employment_demo(ledger, context.home)
        return
    from govflow.demo.credit import run_demo

    run_demo(ledger, context.home, scenario)
