"""`govflow run monitor | run incident | run fleet`, `govflow outcomes`, `govflow diff` (`incident ...`: `cli.incident`).

Thin: parse, run the recorded flow or call `governance/`, print. Exit 1 when monitoring raised an
alert (DESIGN.md: a compliance check failed); 2 for bad input.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from govflow.cli.context import ConfigOption, JsonOpt, ctx
from govflow.cli.output import progress
from govflow.cli.run import prepare
from govflow.demo.report_text import report_lines


def run_monitor(
    typer_ctx: typer.Context,
    config: ConfigOption = Path("govflow.yaml"),
    window: Annotated[str | None, typer.Option("--window", help="Window size, e.g. 7d, 24h (default: monitoring.window).")] = None,
    last: Annotated[int | None, typer.Option("--last", min=1, help="Only the N most recent windows.")] = None,
    no_incident: Annotated[bool, typer.Option("--no-incident", help="Report alerts without opening an incident.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Drift, prediction drift, and (with outcomes) performance and fairness per window; exit 1 on an alert."""
    from govflow.flows.monitor import monitor_flow

    prepare(typer_ctx, config)
    with progress(f"monitoring {config}"):
        outcome = monitor_flow(str(config), window, last, not no_incident)
    documents = [drift_report_of(typer_ctx, report) for report in outcome.reports]
    if as_json:
        found = outcome.to_dict()
        for entry, document in zip(found["reports"], documents, strict=True):
            entry["drift_report"] = document.to_dict() if document is not None else None
        typer.echo(json.dumps(found, indent=1, default=str))
    else:
        typer.echo(f"monitoring {outcome.system} (window {outcome.window})")
        if outcome.policy:
            typer.echo(f"  judged by {outcome.policy['cited']}")
            if outcome.policy.get("warning"):
                typer.secho(f"WARNING: {outcome.policy['warning']}", fg=typer.colors.YELLOW)
        for note in outcome.notes:
            typer.echo(f"  {note}")
        for report, document in zip(outcome.reports, documents, strict=True):
            for line in report_lines(report):
                typer.echo(f"  {line}")
            if document is not None:
                typer.echo(f"  drift report: {document.name} ({document.path})")
        for alert in outcome.alerts:
            typer.echo(f"ALERT {alert.check} {alert.version} {alert.window['start'][:10]}: " + "; ".join(alert.findings[:3]))
        if outcome.incident:
            i = outcome.incident
            typer.echo(f"incident {i['incident_id']} {'opened' if i['new'] else 'updated'} ({i['kind']}, {i['severity']}), "
                       f"report due {i['report_due_at']}; next: govflow run incident -c {config} --incident {i['incident_id']}")
    if outcome.alerted:
        raise typer.Exit(1)


def drift_report_of(typer_ctx: typer.Context, report: Any) -> Any:
    """The stored Evidently report of a window's drift alert (`drift_report.for_window`), if one was kept.

    Its file is named by the sha256 of its bytes, so the path printed is also the hash `govflow verify` checks."""
    from govflow.governance.reports.documents import drift_report

    drift = report.suite("drift")
    if drift is None or drift.passed:
        return None
    return drift_report.for_window(ctx(typer_ctx).ledger(), report.model_version_id, report.window.start)


def outcomes(
    typer_ctx: typer.Context,
    config: ConfigOption = Path("govflow.yaml"),
    input_file: Annotated[Path, typer.Option("--input", help="csv/parquet: prediction_id or the id column, and the label.")] = Path("outcomes.csv"),
) -> None:
    """Attach late outcomes to logged predictions (see `govflow.governance.trail.outcomes` for the file format)."""
    from govflow.flows.monitor import outcomes_flow

    prepare(typer_ctx, config)
    receipt = outcomes_flow(str(config), str(input_file))
    typer.echo(f"attached {receipt['attached']} outcome(s) from {input_file} (joined on {receipt['joined_on']}); "
               f"{receipt['unmatched']} row(s) matched no prediction; {receipt['superseded']} superseded an earlier outcome")


def run_incident(
    typer_ctx: typer.Context,
    config: ConfigOption = Path("govflow.yaml"),
    reason: Annotated[str, typer.Option("--reason", help="What happened (a new incident).")] = "",
    kind: Annotated[str, typer.Option("--kind", help="death | health_harm | critical_infrastructure | widespread_infringement | fundamental_rights | property_or_environment | malfunction")] = "malfunction",
    severity: Annotated[str | None, typer.Option("--severity", help="critical | high | medium | low (default: from the kind).")] = None,
    version: Annotated[str | None, typer.Option("--version", help="The implicated version (default: the one in production).")] = None,
    incident: Annotated[str | None, typer.Option("--incident", help="Handle this open incident instead of opening one.")] = None,
    aware_at: Annotated[str | None, typer.Option("--aware-at", help="When the provider became aware (RFC 3339; default now).")] = None,
) -> None:
    """Open an incident (or take an open one) and run the playbook: freeze, suspend and roll back, impact, diff, drafts."""
    from govflow.flows.incident import incident_flow

    prepare(typer_ctx, config)
    out = incident_flow(str(config), reason, kind, severity, version, incident, aware_at)
    typer.echo(f"incident {out.incident_id} on {out.system} ({out.kind}), implicating {out.version or 'no version'}; "
               f"Art. 73 report due {out.report_due_at}")
    rb = out.rollback
    if rb.get("suspended"):
        typer.echo(f"  suspended {rb['suspended']}" + (f"; serving rolled back to {rb['restored']}" if rb.get("restored") else "")
                   + ("; serving STOPPED (no compliant earlier version)" if rb.get("stopped") else ""))
    for label, why in rb.get("skipped", []):
        typer.echo(f"    passed over {label}: {why}")
    if out.impact:
        typer.echo(f"  impact ({out.impact['scope']}): {out.impact['decisions']} decisions by {out.impact['version']}, "
                   f"{out.impact['favourable']} favourable")
    for line in out.root_cause:
        typer.echo(f"  root cause: {line}")
    typer.echo(f"  drafts: {', '.join(out.documents)}")
    typer.echo(f"  next: the report is due {out.report_due_at}: govflow incident notify {out.incident_id} --to AUTHORITY "
               f"--reference REF; then govflow incident close {out.incident_id} --as NAME --reason TEXT")


def diff(typer_ctx: typer.Context,
         left: Annotated[str, typer.Argument(metavar="NAME:V1")],
         right: Annotated[str, typer.Argument(metavar="NAME:V2")],
         as_json: JsonOpt = False) -> None:
    """Compare two versions: training data, feature distributions, parameters, code, fairness config, drift."""
    from govflow.governance.lineage.diff import diff_versions, render_text

    found = diff_versions(ctx(typer_ctx).ledger(), left, right)
    typer.echo(json.dumps(found.to_dict(), indent=1, default=str) if as_json else render_text(found))


def run_fleet(
    typer_ctx: typer.Context,
    configs: Annotated[list[Path], typer.Option("-c", "--config", help="A system's govflow.yaml (repeat for each).")],
    window: Annotated[str | None, typer.Option("--window", help="Window size for every system.")] = None,
    last: Annotated[int | None, typer.Option("--last", min=1, help="Only the N most recent windows.")] = 1,
    scheduler: Annotated[str | None, typer.Option("--scheduler", help="A Dask scheduler address (default: GOVFLOW_DASK_SCHEDULER, else a local cluster).")] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Local cluster size.")] = 2,
) -> None:
    """Monitor many systems at once, fanned out over Dask; exit 1 when any alerted."""
    from govflow.flows.fleet import run_fleet as fleet

    c = ctx(typer_ctx)
    for path in configs:
        prepare(typer_ctx, path)
    results = fleet([str(p) for p in configs], window=window, last=last, scheduler=scheduler, workers=workers,
                    db_url=c.db)
    for item in results:
        alerts = item["alerts"]
        typer.echo(f"{item['system']:<28} {item['windows']} window(s), {item['decisions']} decisions, "
                   f"{len(alerts)} alert(s)" + (f"; incident {item['incident']['incident_id']}" if item.get("incident") else ""))
        if (item.get("policy") or {}).get("warning"):
            typer.secho(f"  WARNING: {item['policy']['warning']}", fg=typer.colors.YELLOW)
    if any(item["alerts"] for item in results):
        raise typer.Exit(1)
