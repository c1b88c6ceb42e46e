"""`govflow predictions search | export`: find logged decisions by anything, and load the trail into a log
store. Thin: parse, call `govflow.governance.trail.search` / `.bulk_export`, print. `govflow.cli.main`
adds these functions to the tree.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from govflow.cli.context import ctx
from govflow.errors import InputError

BOTH_FORMATS = "--json and --csv: choose one"
UNKNOWN_FORMAT = "--format {fmt}: unknown; the one format is ndjson (Elasticsearch/OpenSearch bulk-API lines)"
CSV_COLUMNS = ("id", "served_at", "system", "model_version", "decision", "score", "items", "request_id", "caller",
               "latency_ms", "payload_hash", "audit_seq")



def search(
    typer_ctx: typer.Context,
    system: Annotated[str | None, typer.Option("--system", help="The AI system's name.")] = None,
    version: Annotated[str | None, typer.Option("--version", help="Its version number (needs --system).")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Served at or after (RFC 3339 with a zone).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Served before (RFC 3339 with a zone).")] = None,
    decision: Annotated[str | None, typer.Option("--decision", help="favourable (1) or unfavourable (0).")] = None,
    score_min: Annotated[str | None, typer.Option("--score-min", help="Score at least this.")] = None,
    score_max: Annotated[str | None, typer.Option("--score-max", help="Score at most this.")] = None,
    group: Annotated[list[str] | None, typer.Option(
        "--group", help="A sensitive attribute as logged: NAME=VALUE, NAME<NUMBER (<=, >, >=, !=); repeat to combine.")] = None,
    subject: Annotated[str | None, typer.Option("--subject", help="The data subject's id.")] = None,
    request_id: Annotated[str | None, typer.Option("--request-id", help="The request id (X-Request-ID).")] = None,
    item: Annotated[str | None, typer.Option("--item", help="Recommender: lists that recommended this item.")] = None,
    user: Annotated[str | None, typer.Option("--user", help="Recommender: everything served to this user id.")] = None,
    out_of_domain: Annotated[str | None, typer.Option(
        "--out-of-domain", help="Inputs serving flagged out of domain: on this field, or 'any'.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Per page (1-1000).")] = 100,
    cursor: Annotated[str | None, typer.Option("--cursor", help="The next_cursor a previous page printed.")] = None,
    budget: Annotated[str | None, typer.Option("--budget", help=(
        "What one page may read walking back: seconds (0.8s, the default) or rows examined (50000rows); "
        "spent first, the page says how far back it searched and how to continue."))] = None,
    every: Annotated[bool, typer.Option("--all", help="Every page, not just the first.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (the page and its next_cursor).")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV (the next cursor on stderr).")] = False,
) -> None:
    """Search logged predictions (newest first, without their inputs) by any of these filters."""
    from govflow.governance.trail.search import iterate, parse_budget, parse_query, search_predictions

    if as_json and as_csv:
        raise InputError(BOTH_FORMATS)
    query = parse_query({"system": system, "version": version, "since": since, "until": until, "decision": decision,
                         "score_min": score_min, "score_max": score_max, "group": group or [], "subject_id": subject,
                         "request_id": request_id, "item": item, "user": user, "out_of_domain": out_of_domain,
                         "limit": str(limit), "cursor": cursor})
    bound = parse_budget(budget)
    with ctx(typer_ctx).ledger().read() as conn:
        if every:
            from govflow.governance.trail.search import SearchPage, describe

            page = SearchPage(list(iterate(conn, query, budget=bound)), None, describe(query))
        else:
            page = search_predictions(conn, query, budget=bound)
    if as_json:
        typer.echo(json.dumps(page.to_dict(), indent=1, ensure_ascii=False))
    elif as_csv:
        _write_csv(page.predictions)
        if page.next_cursor:
            typer.echo(_unfinished(page) or f"next page: --cursor {page.next_cursor}", err=True)
    else:
        typer.echo(render(page.predictions, page.next_cursor) if not page.partial else
                   "\n".join([render(page.predictions, None), _unfinished(page)]))


def _unfinished(page: Any) -> str:
    """How far a page whose budget ran out searched, and how to go on."""
    if not page.partial:
        return ""
    return (f"searched back to {page.searched_back_to} without finishing; continue with --cursor {page.next_cursor} "
            "(or narrow with --since/--until)")


def _summary(output: Any) -> tuple[Any, Any, str]:
    if not isinstance(output, dict):
        return None, None, ""
    items = output.get("items")
    favourable = output.get("favourable")
    decision = output.get("decision") if not isinstance(favourable, bool) else \
        f"{output.get('decision')} ({'favourable' if favourable else 'unfavourable'})"
    return decision, output.get("score"), " ".join(map(str, items)) if isinstance(items, list) else ""


def _write_csv(rows: list[dict[str, Any]]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        decision, score, items = _summary(row["output"])
        writer.writerow([row["id"], row["served_at"], row["system"], row["model_version"], decision, score, items,
                         row["request_id"], row["caller"], row["latency_ms"], row["payload_hash"], row["audit_seq"]])


def render(rows: list[dict[str, Any]], next_cursor: str | None) -> str:
    """One line per prediction, then how to get the next page."""
    if not rows:
        return "no predictions match"
    lines = []
    for row in rows:
        decision, score, items = _summary(row["output"])
        answer = f"items {items}" if items else f"decision {decision} score {score:.4f}" if isinstance(score, float) \
            else json.dumps(row["output"])[:60]
        lines.append(f"{row['served_at']}  {row['id']}  {row['model_version'] or row['system']}  {answer}")
    lines.append(f"{len(rows)} shown" + (f"; next page: --cursor {next_cursor}" if next_cursor else ""))
    return "\n".join(lines)


def export(
    typer_ctx: typer.Context,
    since: Annotated[str, typer.Option("--since", help="Served at or after (RFC 3339 with a zone).")],
    fmt: Annotated[str, typer.Option("--format", help="ndjson: Elasticsearch/OpenSearch bulk-API line pairs.")] = "ndjson",
    until: Annotated[str | None, typer.Option("--until", help="Served before (RFC 3339 with a zone).")] = None,
    system: Annotated[str | None, typer.Option("--system", help="Only this AI system.")] = None,
    index: Annotated[str, typer.Option("--index", help="The target index name.")] = "govflow-predictions",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="The file to write (default: stdout).")] = None,
) -> None:
    """Write predictions as bulk-API lines for a log store (inputs only where retention and redaction allow)."""
    from govflow.governance.trail.bulk_export import bulk_lines
    from govflow.governance.trail.search import parse_time

    if fmt != "ndjson":
        raise InputError(UNKNOWN_FORMAT.format(fmt=fmt))
    start = parse_time("since", since)
    end = parse_time("until", until) if until else None
    handle = open(output, "w", encoding="utf-8") if output else sys.stdout  # noqa: SIM115 - closed below
    count = 0
    try:
        with ctx(typer_ctx).ledger().read() as conn:
            for line in bulk_lines(conn, since=start, until=end, system=system, index=index):
                handle.write(line + "\n")
                count += 1
    finally:
        if output:
            handle.close()
    if output:
        typer.echo(f"wrote {count // 2} predictions ({count} bulk lines) to {output}")
