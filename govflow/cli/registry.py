"""`govflow init | approve | promote`: the human side of the registry (`govflow policy` is in `govflow.cli.policy`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from govflow.cli.context import JsonOpt, ctx
from govflow.cli.output import emit_json, verdict
from govflow.errors import InputError

STARTER = Path(__file__).parent / "templates" / "govflow.yaml"


def init(
    path: Annotated[Path, typer.Argument(help="Where to write the starter config.")] = Path("govflow.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter govflow.yaml."""
    if path.exists() and not force:
        raise InputError(f"{path} already exists; pass --force to overwrite it, or choose another path")
    path.write_text(STARTER.read_text(encoding="utf-8"), encoding="utf-8")
    typer.echo(f"wrote {path}: edit system, data and policy, then run `govflow run train -c {path}`")


def required_roles(typer_ctx: typer.Context, ref: str) -> list[str]:
    """The approval roles of the policy the version's gate decision applied (else of its config snapshot)."""
    from govflow.governance.registry import versions as registry
    from govflow.governance.registry.policies import required_roles as roles_of

    ledger = ctx(typer_ctx).ledger()
    with ledger.read() as conn:
        version = registry.resolve(conn, ref)
        return roles_of(conn, version.system, version.id, registry.latest_decision(conn, version.id))


def approve(
    typer_ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="NAME:VERSION")],
    approver: Annotated[str, typer.Option("--as", help="Your name, as it should stand in the record.")],
    role: Annotated[str, typer.Option("--role", help="The role you approve in, e.g. risk_officer.")],
    reason: Annotated[str, typer.Option("--reason", help="Why: it is part of the record.")],
    reject: Annotated[bool, typer.Option("--reject", help="Record a rejection instead.")] = False,
    sign_with: Annotated[Path | None, typer.Option("--sign-with", help="Your SSH private key, e.g. ~/.ssh/id_ed25519: "
                                                   "signs the approval (ssh-keygen -Y sign -n govflow).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a named human approval (or rejection) of a gated model version, signed with --sign-with."""
    from govflow.governance.registry import versions as registry

    roles = required_roles(typer_ctx, ref)
    if role not in roles:
        raise InputError(f"role '{role}' is not one the policy asks for ({', '.join(roles)}); use --role with one of them")
    row = registry.approve(ctx(typer_ctx).ledger(), ref, approver=approver, role=role, reason=reason,
                           reject=reject, required_roles=roles,
                           sign_with=None if sign_with is None else sign_with.expanduser())
    from govflow.governance.reports.documents.store import store_documents

    store_documents(ctx(typer_ctx).ledger(), row["model_version_id"], None,  # the documents say it now
                    occasion="rejection" if reject else "approval", by=approver)
    if as_json:
        emit_json(row)
        return
    verb = verdict("rejected" if reject else "approved")
    signed = f"; signed with {row['signed_by']}" if row["signed_by"] else ""
    typer.echo(f"{row['version']} {verb} by {approver} ({role}, OS user {row['os_user']}); "
               f"evidence hash {row['evidence_hash'][:16]}...{signed}")


def promote(
    typer_ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="NAME:VERSION")],
    as_json: JsonOpt = False,
) -> None:
    """Put a version in production: only when its gate passed and every required role approved."""
    from govflow.governance.registry import versions as registry
    from govflow.governance.reports.documents.store import store_documents

    roles = required_roles(typer_ctx, ref)
    ledger = ctx(typer_ctx).ledger()
    version = registry.promote(ledger, ref, by=registry.os_user(), required_roles=roles)
    names = store_documents(ledger, version.id, None, occasion="promotion")
    if as_json:
        emit_json({"version": str(version), "model_version_id": version.id, "stage": "production",
                   "documents": list(names[::2])})
        return
    typer.echo(f"{version} is now in production; its documents were regenerated with the approvals: {', '.join(names[::2])}")
