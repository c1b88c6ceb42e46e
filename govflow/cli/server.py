"""`govflow server start|stop|status`: the local Prefect server govflow's flows run against.

govflow starts it by itself the first time a command needs Prefect (`govflow.prefect_server`); these
commands show it, start it ahead of time (e.g. before a batch of commands), or stop it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import typer

from govflow.cli.context import ctx


def _elsewhere() -> str | None:
    """Why this home's server is not the one used, if it is not."""
    from govflow import prefect_server

    if os.environ.get("PREFECT_API_URL"):
        return f"govflow commands here use PREFECT_API_URL={os.environ['PREFECT_API_URL']}"
    if os.environ.get(prefect_server.MODE_ENV, "").strip().lower() == "ephemeral":
        return "govflow commands here use Prefect's ephemeral server (GOVFLOW_PREFECT=ephemeral)"
    return None


def server_start(typer_ctx: typer.Context) -> None:
    """Start this home's Prefect server (or say where it already runs); it stays up for later commands."""
    from govflow import prefect_server
    from govflow.settings import OFFLINE

    home = ctx(typer_ctx).home
    state, started = prefect_server.start(home, OFFLINE)
    typer.echo(f"{'started' if started else 'already running:'} Prefect server for {home} at {state.api_url} "
               f"(pid {state.pid}; UI {state.ui_url}; log {home / prefect_server.LOG_FILE})")
    note = _elsewhere()
    if note:
        typer.echo(f"note: {note}, not this server")


def server_stop(typer_ctx: typer.Context) -> None:
    """Stop this home's Prefect server (the next command that needs Prefect starts it again)."""
    from govflow import prefect_runner, prefect_server

    home = ctx(typer_ctx).home
    runner = prefect_runner.read_state(home)
    runner_pid = runner.pid if runner is not None and prefect_runner.alive(runner.pid) else None
    state = prefect_server.stop(home)
    typer.echo(f"stopped the Prefect server for {home} (pid {state.pid})" if state
               else f"no Prefect server is running for {home}")
    if runner_pid is not None:
        typer.echo(f"stopped its warm gate runner (pid {runner_pid})")


def server_status(typer_ctx: typer.Context) -> None:
    """Show this home's Prefect server: pid, API URL, up since; exit 1 when none runs."""
    from govflow import prefect_server

    home = ctx(typer_ctx).home
    state = prefect_server.read_state(home)
    note = _elsewhere()
    if state is None or not prefect_server.alive(state.pid):
        typer.echo(f"no Prefect server is running for {home}; the next command that runs a flow starts one"
                   if note is None else f"no Prefect server is running for {home}; {note}")
        raise typer.Exit(1)
    answering = "answering" if prefect_server.healthy(state.api_url) else "starting (not answering yet)"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(state.started_at))
    typer.echo(f"Prefect server for {home}: pid {state.pid}, {state.api_url}, {answering}, up since {since} "
               f"(stop it: govflow server stop)")
    typer.echo(_runner_line(home))
    if note:
        typer.echo(f"note: {note}, not this server")


def _runner_line(home: Path) -> str:
    """The warm gate runner beside the server (`govflow.prefect_runner`): pid, ready or starting, or none."""
    from govflow import prefect_runner

    if not prefect_runner.enabled():
        return f"warm gate runner: off ({prefect_runner.SWITCH_ENV}=0): run gate runs in its own process"
    runner = prefect_runner.read_state(home)
    if runner is None or not prefect_runner.alive(runner.pid):
        return "warm gate runner: none (the next command that runs a flow starts it); run gate runs in its own process"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(runner.started_at))
    if not runner.ready:
        return f"warm gate runner: pid {runner.pid}, starting (importing the check libraries) since {since}"
    return (f"warm gate runner: pid {runner.pid}, ready since {since}, serving deployment {runner.deployment_id} "
            f"(log {home / prefect_runner.LOG_FILE})")
