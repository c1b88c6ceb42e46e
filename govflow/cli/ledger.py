"""`govflow verify`: recompute the hash chain, the history rows and every stored file's hash."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from govflow.cli.context import JsonOpt, ctx
from govflow.cli.output import emit_json, paint, verdict


def verify(
    typer_ctx: typer.Context,
    head: Annotated[str | None, typer.Option("--head", help="A chain head exported earlier that must still be in the chain.")] = None,
    anchors: Annotated[bool, typer.Option("--anchors", help="Also check every configured anchor (GOVFLOW_ANCHORS or -c's anchors:), saying which disagrees.")] = False,
    config: Annotated[Path | None, typer.Option("-c", "--config", help="A govflow.yaml whose anchors: section lists the anchors.")] = None,
    since: Annotated[str | None, typer.Option("--since", metavar="HEAD", help=(
        "Check only what was appended after HEAD, a head an earlier verify printed (HASH or SEQ:HASH): it must "
        "still be in the chain at its position and the new entries must link to it. A rewrite of the chain up to "
        "HEAD is caught; a change before HEAD that leaves HEAD's own entry alone is not: run a full verify "
        "(without --since) regularly for that."))] = None,
    as_json: JsonOpt = False,
) -> None:
    """Recompute the hash chain, check every history row and re-hash every stored file."""
    from govflow.flows import anchoring
    from govflow.governance.ledger.verify import Finding, open_for_verify
    from govflow.governance.ledger.verify import verify as run_verify

    c = ctx(typer_ctx)
    ledger = open_for_verify(c.db, c.home)  # read-only (never created nor migrated), and the ledger this home recorded
    if config is not None:
        from govflow.governance.config import load_config

        c.anchors_config = load_config(config)
    anchor_settings = c.anchor_settings()
    report = run_verify(ledger, [head] if head else [], since=since)
    if not report.has_entry(1):  # no genesis entry, no ledger id: no anchor can be matched; the chain says why
        _tampering_found(report, as_json)
    checked = anchoring.check(ledger, anchor_settings, everywhere=anchors)
    for warning in checked.warnings:
        typer.echo(f"warning: {warning}", err=True)
    report.findings += [Finding(None, f"anchor {d.sink}: {d.head or 'no head'}", d.problem) for d in checked.disagreements]
    purged = f", {report.purged_payloads} prediction payload(s) purged under tombstones" if report.purged_payloads else ""
    if report.rollup_cells:
        purged += f", {report.rollup_cells} of the dashboard's hourly sums recounted"
    if report.intact:
        anchoring.record_verified(ledger, report.head_seq, report.head_hash, anchor_settings)
        if as_json:
            emit_json(verify_dict(report, checked.checked, checked.latest))
            return
        typer.echo(
            f"ledger {verdict('intact')}{f' since entry {report.since_seq}' if report.since_seq else ''}: {report.entries} "
            f"{'new ' if report.since_seq else ''}entries, {report.rows} rows, {report.artifacts} stored files checked{purged}"
        )
        if (signed := signatures_line(report)) is not None:
            typer.echo(signed)
        typer.echo(f"{NEXT_TIME.format(seq=report.head_seq, hash=report.head_hash)}\nhead {report.head_seq} {report.head_hash}")
        if anchors:
            typer.echo("anchors agree: " + "; ".join(f"{name} ({count} head(s), latest seq {checked.latest[name]})"
                                                     for name, count in checked.checked.items()))
        return
    _tampering_found(report, as_json)


# The head line stays the last: scripts read the head from it.
NEXT_TIME = "next time, verify only what is appended after the head below: govflow verify --since {seq}:{hash}"


def signatures_line(report: Any) -> str | None:
    """How many signed approvals were checked and which do not hold; None when the ledger holds none."""
    if not report.signatures:
        return None
    if not report.bad_signatures:
        return f"{report.signatures} signed decision{'s' if report.signatures != 1 else ''}: signatures {paint('hold', good=True)}"
    return (f"{len(report.bad_signatures)} of {report.signatures} signed decisions: signature {paint('does not hold', good=False, bold=True)}: "
            + "; ".join(report.bad_signatures))


def verify_dict(report: Any, anchors: dict[str, int] | None = None, latest: dict[str, int] | None = None) -> dict[str, Any]:
    """What `govflow verify --json` prints: the counts, the head, every finding, the anchors that agree."""
    return {"intact": report.intact, "entries": report.entries, "rows": report.rows, "artifacts": report.artifacts,
            "purged_payloads": report.purged_payloads, "since_seq": getattr(report, "since_seq", 0),
            "hourly_sums_recounted": getattr(report, "rollup_cells", 0),
            "head": {"seq": report.head_seq, "hash": report.head_hash},
            "signatures": {"checked": report.signatures, "hold": not report.bad_signatures, "failing": report.bad_signatures},
            "findings": [{"seq": f.seq, "record": f.record, "problem": f.problem} for f in report.ordered()],
            "anchors": {name: {"heads": count, "latest_seq": (latest or {}).get(name)} for name, count in (anchors or {}).items()}}


def _tampering_found(report: Any, as_json: bool = False) -> NoReturn:
    ordered = report.ordered()
    if as_json:
        emit_json(verify_dict(report))
    typer.echo(f"{verdict('TAMPERING FOUND')}: {len(ordered)} finding(s); first broken: {ordered[0]}", err=True)
    for finding in ordered[1:20]:
        typer.echo(f"  {finding}", err=True)
    if len(ordered) > 20:
        typer.echo(f"  ... and {len(ordered) - 20} more", err=True)
    if (signed := signatures_line(report)) is not None:
        typer.echo(signed, err=True)
    if not as_json:
        typer.echo(f"head {report.head_seq} {report.head_hash} (not trusted)")
    raise typer.Exit(1)
