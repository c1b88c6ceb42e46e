"""`govflow trace model|dataset|run | export | ui`: reading the lineage graph, replaying it, and showing
run history. `govflow.cli.main` adds these functions to the tree.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from govflow.cli.context import ctx
from govflow.cli.output import for_people
from govflow.errors import InputError

if TYPE_CHECKING:
    from govflow.governance.ledger.engine import Ledger
    from govflow.governance.lineage.trace import Node

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the tree as JSON.")]
DepthOpt = Annotated[int, typer.Option("--depth", min=1, help="How many steps to walk each way.")]
LimitOpt = Annotated[int, typer.Option("--limit", min=1, help="At most this many users of one piece of content.")]


def _show(node: Node, as_json: bool) -> None:
    from govflow.governance.lineage.trace import render

    typer.echo(json.dumps(node.to_dict(), indent=2, ensure_ascii=False) if as_json else for_people(render(node)))


def trace_model(typer_ctx: typer.Context, ref: Annotated[str, typer.Argument(metavar="NAME:VERSION")],
                as_json: JsonOpt = False, depth: DepthOpt = 10, limit: LimitOpt = 25) -> None:
    """A model version: how it was made (runs, data, checks), its approvals and where it is used."""
    from govflow.governance.lineage.trace import Tracer
    from govflow.governance.registry import versions as registry

    with ctx(typer_ctx).ledger().read() as conn:
        version = registry.resolve(conn, ref)
        _show(Tracer(conn, depth=depth, limit=limit).trace_model(version.id), as_json)


def trace_dataset(typer_ctx: typer.Context,
                  fingerprint: Annotated[str, typer.Argument(help="A fingerprint, or a unique prefix of 8+ characters.")],
                  as_json: JsonOpt = False, depth: DepthOpt = 10, limit: LimitOpt = 25) -> None:
    """A data set (or model, or file) by fingerprint: where it came from and where it went."""
    from govflow.governance.lineage import graph
    from govflow.governance.lineage.trace import Tracer

    with ctx(typer_ctx).ledger().read() as conn:
        fp = graph.resolve_fingerprint(conn, fingerprint)
        _show(Tracer(conn, depth=depth, limit=limit).trace_entity(fp), as_json)


def trace_run(typer_ctx: typer.Context,
              run_id: Annotated[str, typer.Argument(metavar="ID", help="A ledger or Prefect run id, or a unique prefix of 8+ characters.")],
              as_json: JsonOpt = False, depth: DepthOpt = 10, limit: LimitOpt = 25) -> None:
    """A run: its flow, steps, checks, what it took and what it produced."""
    from govflow.governance.lineage import graph
    from govflow.governance.lineage.trace import Tracer

    with ctx(typer_ctx).ledger().read() as conn:
        resolved = graph.resolve_run(conn, run_id)
        _show(Tracer(conn, depth=depth, limit=limit).trace_run(resolved), as_json)


# -- export ------------------------------------------------------------------------------------

def export_openlineage(ledger: Ledger, ref: str, out: Path) -> str:
    """Every run behind a model version as OpenLineage events, one JSON object per line."""
    from govflow.governance.lineage import graph
    from govflow.governance.lineage import openlineage as ol
    from govflow.governance.registry import versions as registry

    with ledger.read() as conn:
        version = registry.resolve(conn, ref)
        run_ids = graph.run_ids_for_model(conn, version.id)
    events = ol.replay_events(ledger, run_ids, namespace=ol.namespace_for(version.system))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(e, sort_keys=True, ensure_ascii=False) + "\n" for e in events), encoding="utf-8")
    return f"wrote {len(events)} OpenLineage events for {len(run_ids)} runs of {version} to {out}"


def export_bundle(ledger: Ledger, ref: str, out: Path) -> str:
    """The auditor's zip (`govflow.governance.reports.bundle`)."""
    from govflow.governance.reports import bundle

    return bundle.build_bundle(ledger, ref, out).describe()


def export_prov(ledger: Ledger, ref: str, out: Path) -> str:
    """W3C PROV-JSON of a version's lineage."""
    from govflow.governance.reports import bundle

    return bundle.write_prov(ledger, ref, out)


# The formats `export` knows: f(ledger, "NAME:VERSION", path) -> the line to print.
EXPORTERS: dict[str, Callable[[Ledger, str, Path], str]] = {
    "openlineage": export_openlineage, "bundle": export_bundle, "prov": export_prov}


def export(typer_ctx: typer.Context, ref: Annotated[str, typer.Argument(metavar="NAME:VERSION|predictions")],
           fmt: Annotated[str, typer.Option("--format", help="openlineage (events as JSON lines), bundle (the auditor's zip), prov (W3C PROV-JSON); ndjson for predictions")],
           output: Annotated[Path | None, typer.Option("-o", "--output", help="The file to write (predictions: default stdout).")] = None,
           since: Annotated[str | None, typer.Option("--since", help="predictions: served at or after (RFC 3339 with a zone).")] = None) -> None:
    """Export the record of a model version, or (`export predictions --since T --format ndjson`) the prediction trail."""
    from govflow.governance.registry import versions as registry

    if ref == "predictions":  # the trail as bulk-API lines: `govflow predictions export`
        from govflow.cli.predictions import export as export_predictions

        if since is None:
            raise InputError("export predictions: --since is required (RFC 3339 with a zone, e.g. 2026-12-01T00:00:00Z)")
        return export_predictions(typer_ctx, since=since, fmt=fmt, output=output)
    if output is None:
        raise InputError(f"export {ref}: -o FILE is required (the file to write)")
    exporter = EXPORTERS.get(fmt)
    if exporter is None:
        raise InputError(f"unknown export format '{fmt}'; choose one of: {', '.join(sorted(EXPORTERS))}")
    registry.parse_ref(ref)
    check_output(output, fmt)
    typer.echo(exporter(ctx(typer_ctx).ledger(), ref, output))


SUFFIXES = {"bundle": "zip", "prov": "json", "openlineage": "jsonl"}


def check_output(output: Path, fmt: str) -> None:
    """Refuse, before anything is read, an ``-o`` that cannot become the file (exit 2, not a traceback later).

    Missing folders are created by the exporters, as they always were: ``-o`` names the file to
    write, and asking for it at a new place is what the command is for.
    """
    if output.is_dir():
        example = output / f"export.{SUFFIXES.get(fmt, 'out')}"
        raise InputError(f"-o {output}: is a folder; give the path of the file to write, e.g. {example}")
    existing = output.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"-o {output}: cannot create the folder {output.parent}: {existing} is a file; choose another path")
    if not os.access(existing, os.W_OK | os.X_OK) or output.exists() and not os.access(output, os.W_OK):
        raise InputError(f"-o {output}: permission denied in {existing}; choose another path")


# -- ui ----------------------------------------------------------------------------------------

def ui(typer_ctx: typer.Context,
       host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
       port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 4200) -> None:
    """Start the Prefect UI (offline) and send later govflow runs to it, until Ctrl-C."""
    from govflow.cli.ui import serve

    serve(ctx(typer_ctx).home, host, port, typer.echo)
