"""`govflow gap | evidence attach | retention apply|list | erase | access`: obligations, evidence and
personal data.

Thin: parse, call `govflow.governance.reports.gap`, `govflow.governance.trail.retention` or
`govflow.governance.access.roles`, print.
"""

from __future__ import annotations

import mimetypes
import os
from pathlib import Path
from typing import Annotated

import typer

from govflow.cli.context import ConfigOption, JsonOpt, ctx
from govflow.cli.output import emit_json
from govflow.errors import InputError


def _quiet(_text: str) -> None:
    pass


def gap_command(
    typer_ctx: typer.Context,
    config: ConfigOption = Path("govflow.yaml"),
    framework: Annotated[list[str] | None, typer.Option("--framework", help="eu_ai_act, nist_ai_rmf, iso_42001 (repeatable; default all).")] = None,
    version: Annotated[str | None, typer.Option("--version", help="The version under review (default: the latest).")] = None,
    out: Annotated[Path | None, typer.Option("-o", "--output", help="Also write the report here (.md or .html).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Which obligations apply, and what evidence is missing: recorded as a gap report (exit 1: a mandatory gap)."""
    from govflow.governance.config import load_config
    from govflow.governance.reports import gap
    from govflow.governance.reports.gap_report import summary_lines

    cfg = load_config(config)
    ledger = ctx(typer_ctx).ledger()
    report = gap.record_gap(ledger, cfg, frameworks=framework or None, version=version)
    echo = _quiet if as_json else typer.echo  # --json: the report alone on stdout
    if as_json:
        emit_json({**report.to_dict(), "artifact_ids": report.artifact_ids})
    for line in summary_lines(report):
        echo(line)
    echo(f"  recorded: gap report artifacts {', '.join(f'{k} {v}' for k, v in report.artifact_ids.items())} "
               f"(run {report.run_id})")
    if out is not None:
        from govflow.governance.reports.gap_report import render

        out.write_bytes(render(report, "html" if out.suffix.lower() in (".html", ".htm") else "md"))
        echo(f"  wrote {out}")
    if not report.passed:
        raise typer.Exit(1)




def evidence_attach(
    typer_ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="NAME:VERSION")],
    file: Annotated[Path, typer.Argument(help="The document (Markdown, PDF, ...).")],
    kind: Annotated[str, typer.Option("--kind", help="A kind the catalogues define: `govflow evidence kinds` lists them.")],
) -> None:
    """Record a plan, register, assessment or declaration as evidence for a version (later versions inherit it)."""
    from govflow.governance.reports import gap_evidence

    if not file.is_file():
        raise InputError(f"{file} not found; give the path of the document to attach")
    media = mimetypes.guess_type(file.name)[0] or ("text/markdown" if file.suffix == ".md" else "application/octet-stream")
    row = gap_evidence.attach_evidence(ctx(typer_ctx).ledger(), ref, kind=kind, name=file.name, data=file.read_bytes(),
                                       media_type=media)
    typer.echo(f"attached {file.name} to {row['version']} as {kind}: artifacts/{row['id']} sha256 {row['content_hash']}")




def retention_apply(
    typer_ctx: typer.Context,
    config: ConfigOption = Path("govflow.yaml"),
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would be purged; change nothing.")] = False,
) -> None:
    """Purge the payloads older than logging.retention_days (never under 183 days), under a tombstone."""
    from govflow.governance.config import load_config
    from govflow.governance.trail import retention

    cfg = load_config(config)
    result = retention.apply_retention(ctx(typer_ctx).ledger(), cfg.system.name, cfg.logging.retention_days, dry_run=dry_run)
    typer.echo(result.describe())


def retention_list(typer_ctx: typer.Context) -> None:
    """Every purge tombstone: when, why, by whom, how many payloads."""
    from govflow.canonical import format_ts
    from govflow.governance.trail import retention

    with ctx(typer_ctx).ledger().read() as conn:
        rows = retention.purges(conn)
    if not rows:
        typer.echo("no purge recorded")
    for r in rows:
        typer.echo(f"{format_ts(r['at'])} {r['kind']} {r['count']} payload(s) by {r['by']} (entry {r['audit_seq']}, "
                   f"purges/{r['id']}): {r['reason']} {r['criteria_json']}")


def erase(
    typer_ctx: typer.Context,
    subject: Annotated[str, typer.Option("--subject", help="The data subject's id, as sent with the predictions.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (e.g. the request's legal basis); part of the record.")] = "erasure request",
    request: Annotated[str | None, typer.Option("--request", help="The request's reference (ticket number).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would be purged; change nothing.")] = False,
) -> None:
    """Purge one data subject's prediction payloads (the chained predictions keep only their hashes)."""
    from govflow.governance.trail import retention

    result = retention.erase_subject(ctx(typer_ctx).ledger(), subject, reason=reason, request=request, dry_run=dry_run)
    typer.echo(result.describe())


RoleName = Annotated[str, typer.Option("--name", help="The role's name, e.g. auditor.")]


def access_create(
    typer_ctx: typer.Context,
    name: RoleName = "auditor",
    password_env: Annotated[str | None, typer.Option("--password-env", help="Read the role's password from this environment variable.")] = None,
) -> None:
    """Create a read-only PostgreSQL role (SELECT only; every session read-only) and print what was done."""
    from govflow.governance.access import roles as access

    password = None
    if password_env:
        password = os.environ.get(password_env)
        if not password:
            raise InputError(f"environment variable {password_env} is not set; export the password there first")
    ledger = ctx(typer_ctx).ledger()
    for statement in access.create_auditor_role(ledger, name, password):
        typer.echo(f"  {statement};")
    typer.echo(f"role {name} can read the ledger and cannot write to it; connect with: "
               f"govflow --db {access.auditor_url(ledger, name)} verify")


def access_drop(typer_ctx: typer.Context, name: RoleName) -> None:
    """Remove an auditor role's privileges on this ledger and drop the role."""
    from govflow.governance.access import roles as access

    for statement in access.drop_auditor_role(ctx(typer_ctx).ledger(), name):
        typer.echo(f"  {statement};")
