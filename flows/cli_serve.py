"""`govflow serve | token create | token list | trace prediction`: the prediction service from the CLI."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from flows.cli import app, ctx
from flows.cli_lineage import JsonOpt, trace_app

token_app = typer.Typer(no_args_is_help=True, help="API tokens for `govflow serve` (stored hashed).")
app.add_typer(token_app, name="token")


@app.command()
def serve(typer_ctx: typer.Context,
          host: Annotated[str, typer.Option("--host", help="Address to listen on (other than 127.0.0.1 only once a token exists).")] = "127.0.0.1",
          port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8000) -> None:
    """Serve the versions in production over HTTP; every prediction is recorded before it is answered."""
    from flows.serve import run

    ledger = ctx(typer_ctx).ledger()
    run(ledger, host=host, port=port,
        on_ready=lambda url: typer.echo(f"serving {url} (POST /predict/SYSTEM, audit under /audit/, docs at /docs); "
                                        f"ledger {ledger.url}; Ctrl-C to stop", err=True))


@token_app.command("create")
def token_create(
    typer_ctx: typer.Context,
    role: Annotated[str, typer.Option("--role", help="auditor (read /audit/...) or operator (serve /predict).")],
    label: Annotated[str | None, typer.Option("--label", help="Names the caller in the prediction log (default ROLE-N).")] = None,
) -> None:
    """Make a token. Its secret is printed once and stored nowhere: only its sha256 is kept."""
    from governance.registry import os_user
    from governance.tokens import create_token

    secret, info = create_token(ctx(typer_ctx).ledger(), role=role, label=label, created_by=os_user())
    typer.echo(secret)
    typer.echo(f"{info.role} token '{info.label}' created; the secret above is shown only now: keep it safe "
               "(send it as Authorization: Bearer SECRET)", err=True)


@token_app.command("list")
def token_list(typer_ctx: typer.Context) -> None:
    """The tokens that exist: role, label, when and by whom (never the secrets)."""
    from governance.tokens import list_tokens

    with ctx(typer_ctx).ledger().read() as conn:
        found = list_tokens(conn)
    if not found:
        typer.echo("no tokens: serve answers on 127.0.0.1 only, /predict without a token")
    for t in found:
        typer.echo(f"{t['role']:<9} {t['label']:<30} created {t['created_at']} by {t['created_by']}")


@trace_app.command("prediction")
def trace_prediction(typer_ctx: typer.Context,
                     prediction_id: Annotated[str, typer.Argument(metavar="ID", help="A prediction id, or the request id of a single-record request.")],
                     as_json: JsonOpt = False) -> None:
    """A prediction: its input and output, the version that answered, the gate decision and approvals,
    the training run and data, and the checks at approval."""
    from governance.prediction_trace import render
    from governance.predictions import trace_prediction as trace

    with ctx(typer_ctx).ledger().read() as conn:
        found = trace(conn, prediction_id)
    typer.echo(json.dumps(found, indent=2, ensure_ascii=False) if as_json else render(found))
