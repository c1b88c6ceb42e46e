"""`govflow docs NAME:VERSION`, `govflow evidence kinds | template KIND`: documents by name, evidence forms
(`evidence attach` is in `govflow.cli.gap`).

Thin: parse, call `govflow.governance.reports.documents.store` / `gap_evidence`, print.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from govflow.cli.context import ctx


def docs(
    typer_ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="NAME:VERSION")],
    out: Annotated[Path, typer.Option("--out", help="The folder to write them to.")] = Path("docs"),
    history: Annotated[bool, typer.Option("--history", help="Also list every earlier edition and what superseded it.")] = False,
) -> None:
    """Write the current documents of a version under readable names (model-card.html, annex-iv.html, ...)."""
    from govflow.governance.registry.versions import resolve
    from govflow.governance.reports.documents import store

    ledger = ctx(typer_ctx).ledger()
    with ledger.read() as conn:
        version = resolve(conn, ref)
        editions = store.history(conn, version.id)
    if not editions:
        typer.echo(f"{version} has no documents yet: `govflow run gate` writes them")
        raise typer.Exit(1)
    written = store.write_current(ledger, version.id, out)
    superseded = sum(1 for e in editions if e.superseded_by)
    typer.echo(f"current documents of {version} in {out}/: {', '.join(p.name for p in written)} "
               f"({superseded} earlier edition(s) superseded; see history.json)")
    if history:
        for e in editions:
            state = f"superseded by artifacts/{e.superseded_by}" if e.superseded_by else "current"
            typer.echo(f"  {e.created_at:%Y-%m-%d %H:%M:%S}  {e.name:<52} {e.occasion:<10} {state}")


def evidence_kinds() -> None:
    """The kinds of evidence people attach, as the requirement catalogues define them."""
    from govflow.governance.reports.gap_evidence import evidence_kinds as kinds

    for kind in kinds().values():
        form = " (structured form: `govflow evidence template " + kind.kind + "`)" if kind.template else ""
        typer.echo(f"{kind.kind:<32} {kind.title}{form}")


def evidence_template(
    kind: Annotated[str, typer.Argument(metavar="KIND", help="e.g. fria")],
    out: Annotated[Path | None, typer.Option("--out", help="Write it here (default: print it).")] = None,
) -> None:
    """Write the structured form of an evidence kind (e.g. the fundamental rights impact assessment, fria)."""
    from govflow.governance.reports.gap_evidence import template_text

    text = template_text(kind)
    if out is None:
        typer.echo(text)
        return
    out.write_text(text, encoding="utf-8")
    typer.echo(f"wrote the {kind} form to {out}; answer every question, then: "
               f"govflow evidence attach NAME:VERSION {out} --kind {kind}")
