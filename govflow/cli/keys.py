"""`govflow keys create`: the Ed25519 key that signs chain heads (see `govflow.governance.ledger.anchor_keys`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from govflow.cli.context import ctx


def keys_create(
    typer_ctx: typer.Context,
    out: Annotated[Path | None, typer.Option("--out", help="Where to write the private key (default ~/.config/govflow/anchor.key); never overwritten.")] = None,
) -> None:
    """Make a signing key (mode 0600) and print its public half, for `verify --anchors`."""
    from govflow.governance.ledger.anchor_keys import DEFAULT_KEY, create_key, key_id, public_text

    path = (out or DEFAULT_KEY).expanduser().absolute()
    public = create_key(path, home=ctx(typer_ctx).home)
    typer.echo(f"private key: {path} (mode 0600)\n"
               f"public key:  {public_text(public)}\n"
               f"key id:      {key_id(public)}\n"
               "Keep the private key where whoever can write the ledger cannot read it: the user that runs\n"
               "govflow's writing commands and serve needs it to sign (key:PATH in GOVFLOW_ANCHORS, or\n"
               "anchors.key), never inside the govflow home or next to the database. Give the public key to\n"
               "the auditors (public-key:... in GOVFLOW_ANCHORS, or anchors.public_key): `govflow verify\n"
               "--anchors` then refuses any head it does not sign.")
