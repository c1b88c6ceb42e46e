"""`govflow serve | token create | token list | token revoke | trace prediction`: the prediction service from the CLI."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from govflow.cli.context import ctx
from govflow.cli.lineage import JsonOpt
from govflow.cli.output import for_people


def serve(typer_ctx: typer.Context,
          host: Annotated[str, typer.Option("--host", help="Address to listen on (other than 127.0.0.1 only once a token exists).")] = "127.0.0.1",
          port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8000) -> None:
    """Serve the versions in production over HTTP; every prediction is recorded before it is answered."""
    from govflow.web.app import run

    ledger = ctx(typer_ctx).ledger()
    run(ledger, host=host, port=port,
        on_ready=lambda url: typer.echo(f"serving {url} (POST /predict/SYSTEM, audit under /audit/, docs at /docs); "
                                        f"ledger {ledger.url}; Ctrl-C to stop", err=True))


def token_create(
    typer_ctx: typer.Context,
    role: Annotated[str, typer.Option("--role", help="auditor (read /audit/...) or operator (serve /predict).")],
    label: Annotated[str | None, typer.Option("--label", help="Names the caller in the prediction log (default ROLE-N).")] = None,
) -> None:
    """Make a token. Its secret is printed once and stored nowhere: only its sha256 is kept."""
    from govflow.governance.access.tokens import create_token
    from govflow.governance.registry.versions import os_user

    secret, info = create_token(ctx(typer_ctx).ledger(), role=role, label=label, created_by=os_user())
    typer.echo(secret)
    typer.echo(f"{info.role} token '{info.label}' created; the secret above is shown only now: keep it safe "
               "(send it as Authorization: Bearer SECRET)", err=True)


def token_list(typer_ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="Print the tokens as JSON.")] = False) -> None:
    """The tokens that exist: id, role, label, when and by whom, revoked or not (never the secrets)."""
    from govflow.governance.access.tokens import list_tokens

    with ctx(typer_ctx).ledger().read() as conn:
        found = list_tokens(conn)
    if as_json:
        typer.echo(json.dumps(found, indent=2, ensure_ascii=False))
        return
    if not found:
        typer.echo("no tokens: serve answers on 127.0.0.1 only, /predict without a token")
        return
    width = max(len(str(t["label"])) for t in found)
    typer.echo(f"{'ID':<36}  {'ROLE':<8}  {'LABEL':<{width}}  {'CREATED':<27}  {'BY':<12}  STATUS")
    for t in found:
        revoked = t["revoked"]
        status = "active" if revoked is None else f"revoked {revoked['at']} by {revoked['by']}"
        typer.echo(f"{t['id']:<36}  {t['role']:<8}  {t['label']:<{width}}  {t['created_at']:<27}  "
                   f"{t['created_by']:<12}  {status}")


def token_revoke(
    typer_ctx: typer.Context,
    token: Annotated[str, typer.Argument(metavar="ID", help="The token's id (or its label), as `govflow token list` shows.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the ledger with the revocation).")] = "",
) -> None:
    """Revoke a token: recorded in the ledger; a running `govflow serve` refuses it (401) within 1 s."""
    from govflow.governance.access.tokens import CACHE_S, revoke_token
    from govflow.governance.registry.versions import os_user

    info = revoke_token(ctx(typer_ctx).ledger(), token, revoked_by=os_user(), reason=reason)
    typer.echo(f"{info.role} token '{info.label}' ({info.id}) revoked at {info.revoked_at}; "
               f"a running govflow serve refuses it within {CACHE_S:g} s")


def trace_prediction(typer_ctx: typer.Context,
                     prediction_id: Annotated[str, typer.Argument(metavar="ID", help="A prediction id, or the request id of a single-record request.")],
                     as_json: JsonOpt = False) -> None:
    """A prediction: its input and output, the version that answered, the gate decision and approvals,
    the training run and data, and the checks at approval."""
    from govflow.governance.trail.predictions import trace_prediction as trace
    from govflow.governance.trail.trace import render

    with ctx(typer_ctx).ledger().read() as conn:
        found = trace(conn, prediction_id)
    typer.echo(json.dumps(found, indent=2, ensure_ascii=False) if as_json else for_people(render(found)))
