"""`govflow incident notify | acknowledge | judge | remediate | done | affected | close | show | list`.

Thin: parse, call `govflow.governance.monitoring.incidents` / `reporting`, print. Exit 2 for bad input,
1 when a compliance rule refuses (a reportable incident closed before its report was sent).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from govflow.cli.context import JsonOpt, ctx

IdArg = Annotated[str, typer.Argument(metavar="ID", help="The incident id (or at least 8 of its first characters).")]
AsOpt = Annotated[str, typer.Option("--as", help="Your name, as it should stand in the record.")]


def _resolved(typer_ctx: typer.Context, incident_id: str) -> tuple[Any, str]:
    from govflow.governance.monitoring import incidents

    ledger = ctx(typer_ctx).ledger()
    with ledger.read() as conn:
        return ledger, incidents.resolve(conn, incident_id)


def notify(
    typer_ctx: typer.Context,
    incident_id: IdArg,
    to: Annotated[str, typer.Option("--to", help="The market surveillance authority the report was sent to.")],
    reference: Annotated[str, typer.Option("--reference", help="The report's reference (submission or case number).")],
    sent_at: Annotated[str | None, typer.Option("--sent-at", help="When it was sent (RFC 3339; default now).")] = None,
    by: Annotated[str | None, typer.Option("--as", help="Who sent it (default: the OS user).")] = None,
) -> None:
    """Record that the Art. 73 report was sent (a draft is not a report)."""
    from govflow.governance.monitoring import reporting

    moment = reporting.parse_moment(sent_at, "--sent-at")
    ledger, full = _resolved(typer_ctx, incident_id)
    sent = reporting.notify(ledger, full, to=to, reference=reference, sent_at=moment, by=by)
    timing = "within the deadline" if sent["on_time"] else f"LATE by {sent['late_by_hours']} h"
    typer.echo(f"incident {full}: report {reference} sent to {to} at {sent['sent_at']} ({timing}; due "
               f"{sent['report_due_at']})" + (f"; notice {sent['notice']['name']}" if sent["notice"] else
                                               "; no drafted notice recorded with it"))


def acknowledge(
    typer_ctx: typer.Context,
    incident_id: IdArg,
    reference: Annotated[str, typer.Option("--reference", help="The authority's acknowledgement reference.")],
    at: Annotated[str | None, typer.Option("--at", help="When it was acknowledged (RFC 3339; default now).")] = None,
    by: Annotated[str | None, typer.Option("--as", help="Who recorded it (default: the OS user).")] = None,
) -> None:
    """Record the authority's acknowledgement of the report."""
    from govflow.governance.monitoring import reporting

    moment = reporting.parse_moment(at, "--at")
    ledger, full = _resolved(typer_ctx, incident_id)
    acked = reporting.acknowledge(ledger, full, reference=reference, at=moment, by=by)
    typer.echo(f"incident {full}: report {acked['report_reference']} acknowledged by {acked['authority']} "
               f"under {reference} at {acked['acknowledged_at']}")


def judge(
    typer_ctx: typer.Context,
    incident_id: IdArg,
    approver: AsOpt,
    reason: Annotated[str, typer.Option("--reason", help="Why it is (or is not) a serious incident (Art. 3(49)).")],
    reportable: Annotated[bool, typer.Option("--reportable/--not-reportable", help="Art. 73 reporting applies.")] = True,
) -> None:
    """Record a person's judgement whether the incident is a reportable serious incident."""
    from govflow.governance.monitoring import reporting

    ledger, full = _resolved(typer_ctx, incident_id)
    reporting.judge(ledger, full, reportable=reportable, approver=approver, reason=reason)
    typer.echo(f"incident {full} judged {'reportable' if reportable else 'not reportable'} by {approver}")


def remediate(
    typer_ctx: typer.Context,
    incident_id: IdArg,
    action: Annotated[str, typer.Option("--action", help="What will be done.")],
    owner: Annotated[str, typer.Option("--owner", help="Who is responsible for it.")],
    due: Annotated[str, typer.Option("--due", help="By when (a date, e.g. 2026-04-30).")],
) -> None:
    """Add a dated remediation action with its owner to the incident's timeline."""
    from govflow.governance.monitoring import reporting

    ledger, full = _resolved(typer_ctx, incident_id)
    number = reporting.plan_action(ledger, full, action=action, owner=owner, due=due)
    typer.echo(f"incident {full}: remediation action {number} ({owner}, due {due}): {action}")


def done(
    typer_ctx: typer.Context,
    incident_id: IdArg,
    number: Annotated[int, typer.Option("--action", help="The remediation action's number.")],
    by: AsOpt,
    note: Annotated[str, typer.Option("--note", help="What was done.")] = "",
) -> None:
    """Record a remediation action as done."""
    from govflow.governance.monitoring import reporting

    ledger, full = _resolved(typer_ctx, incident_id)
    reporting.complete_action(ledger, full, number, by=by, note=note)
    typer.echo(f"incident {full}: remediation action {number} done ({by})")


AFFECTED_COLUMNS = ("prediction_id", "request_id", "served_at", "version", "decision", "favourable", "score",
                    "groups", "outcome", "review")


def affected(
    typer_ctx: typer.Context,
    incident_id: IdArg,
    out: Annotated[Path, typer.Option("--out", help="Where to write the list (.csv, or .json).")],
) -> None:
    """Write the decisions of the implicated version in the incident's window, to review one by one."""
    from govflow.governance.monitoring import incidents, reporting

    ledger, full = _resolved(typer_ctx, incident_id)
    with ledger.read() as conn:
        view = incidents.get(conn, full)
        rows, scope = reporting.affected(conn, view)
    if out.suffix.lower() == ".json":
        out.write_text(json.dumps({"incident": full, "scope": scope, "decisions": rows}, indent=1), encoding="utf-8")
    else:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=AFFECTED_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "groups": "" if row["groups"] is None else json.dumps(row["groups"], sort_keys=True)})
        out.write_text(buffer.getvalue(), encoding="utf-8")
    unfavourable = sum(1 for r in rows if r["favourable"] is False)
    typer.echo(f"incident {full}: {len(rows)} decisions by {view.version or 'no version'} ({scope}), "
               f"{unfavourable} unfavourable, written to {out}")


def close(
    typer_ctx: typer.Context,
    incident_id: IdArg,
    approver: AsOpt,
    reason: Annotated[str, typer.Option("--reason", help="Why it can be closed: part of the record.")],
    role: Annotated[str, typer.Option("--role", help="The role you close it in.")] = "risk_officer",
) -> None:
    """Close an incident with a named approval (a reportable one only once its report was sent); unfreezes the system."""
    from govflow.governance.monitoring import incidents

    ledger, full = _resolved(typer_ctx, incident_id)
    finished = incidents.close(ledger, full, approver=approver, reason=reason, role=role)
    state = "unfrozen" if finished["unfrozen"] else (
        f"still frozen by incident {finished['still_frozen_by']}" if finished["still_frozen_by"] else "not frozen")
    typer.echo(f"incident {full} closed by {approver} ({role}); {finished['system']} {state}")


def _report_lines(view: Any) -> list[str]:
    from datetime import UTC, datetime

    from govflow.governance.monitoring import reporting

    sent, acked = view.notification, view.event("acknowledged")
    if not view.reportable:
        lines = ["  Art. 73: not reportable (response plan or recorded judgement)"]
    elif sent is None:
        lines = ["  Art. 73: reportable; report NOT SENT (`govflow incident notify ID --to AUTHORITY --reference REF`)"]
    else:
        d = sent["details"]
        lines = [f"  Art. 73: report {d['reference']} sent to {d['to']} at {d['sent_at']} "
                 f"({'within the deadline' if d['on_time'] else 'LATE'})"
                 + (f"; acknowledged under {acked['details']['reference']}" if acked else "; not yet acknowledged")]
    today = datetime.now(UTC).date()
    for action in reporting.remediation(view):
        item = action.to_dict(today)
        lines.append(f"  remediation {item['number']}: {item['action']} · {item['owner']} · due {item['due']} · "
                     f"{item['state']}")
    return lines


def show(typer_ctx: typer.Context, incident_id: IdArg, as_json: JsonOpt = False) -> None:
    """An incident with its deadline, report, remediation and timeline."""
    from govflow import canonical as canon
    from govflow.governance.monitoring import incidents

    with ctx(typer_ctx).ledger().read() as conn:
        view = incidents.get(conn, incidents.resolve(conn, incident_id))
    if as_json:
        typer.echo(json.dumps(view.to_dict(), indent=1, default=str))
        return
    typer.echo(f"incident {view.id} · {view.state} · {view.system} · {view.version or 'no version'} · {view.kind.value} "
               f"({view.severity.value})")
    typer.echo(f"  aware at {canon.format_ts(view.aware_at)}; report due {canon.format_ts(view.report_due_at)} ({view.legal_basis})")
    typer.echo(f"  {view.summary}")
    for line in _report_lines(view):
        typer.echo(line)
    for event in view.events:
        details = {k: v for k, v in event["details"].items() if k not in ("alerts", "by_group", "skipped", "plan")}
        typer.echo(f"  {canon.format_ts(event['at'])}  {event['action']:<20} {event['by']}  "
                   f"{json.dumps(details, default=str)[:160]}")


def list_incidents(typer_ctx: typer.Context,
                   system: Annotated[str | None, typer.Option("--system", help="Only this system.")] = None,
                   open_only: Annotated[bool, typer.Option("--open", help="Only open incidents.")] = False) -> None:
    """Incidents, oldest first."""
    from govflow import canonical as canon
    from govflow.governance.monitoring import incidents

    with ctx(typer_ctx).ledger().read() as conn:
        found = incidents.list_incidents(conn, system, open_only=open_only)
    if not found:
        typer.echo("no incidents")
    for view in found:
        report = "-" if not view.reportable else ("sent" if view.notification else "NOT SENT")
        typer.echo(f"{view.id}  {view.state:<6} {view.system:<24} {view.version or '-':<28} {view.kind.value:<24} "
                   f"due {canon.format_ts(view.report_due_at)[:16]}  report {report}")
