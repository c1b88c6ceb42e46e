"""`govflow verify`, the rows pass: every row of every history table, grouped by the ``audit_seq`` that
claims it, must hash to what that entry's payload says (a row changed, added or removed behind the
chain is caught).

On a large table the pass runs in parallel: the entries are split into ranges, each hashed in a
process of its own (`PARALLEL_ROWS`, ``GOVFLOW_VERIFY_WORKERS``); the findings are the same.
"""

from __future__ import annotations

import json
import os

from sqlalchemy import ColumnElement, Connection, Table, func, or_, select, true

from govflow import canonical as canon
from govflow.governance.ledger.engine import TABLES, Ledger, row_hash
from govflow.governance.ledger.verify_report import Finding, Report


def _claims(payloads: dict[int, str], report: Report) -> dict[str, dict[int, dict[str, object]]]:
    """What each entry's payload says it recorded, by table then seq. A malformed payload is a finding."""
    claimed: dict[str, dict[int, dict[str, object]]] = {}
    for seq, payload_json in payloads.items():
        try:
            tables = json.loads(payload_json)["tables"]
            for name, info in tables.items():
                if not (isinstance(info.get("rows"), int) and isinstance(info.get("hash"), str)):
                    raise TypeError(name)
                claimed.setdefault(name, {})[seq] = info
        except (ValueError, KeyError, TypeError, AttributeError):
            report.findings.append(Finding(seq, f"audit entry {seq}", "its payload is not a well-formed govflow payload"))
    for name in sorted(set(claimed) - set(TABLES)):
        for seq in sorted(claimed[name]):
            report.findings.append(Finding(seq, f"table {name}", "this entry recorded rows in a table the ledger does not have"))
    return claimed


def after_clause(table: Table, after: int) -> ColumnElement[bool]:
    """The rows of the entries after ``after`` (all rows when 0), and the rows no entry claims."""
    return true() if not after else or_(table.c.audit_seq > after, table.c.audit_seq.is_(None))


PARALLEL_ROWS = 400_000  # a table whose entries claim more rows than this is hashed by several processes
WORKERS_SETTING = "GOVFLOW_VERIFY_WORKERS"
BAD_WORKERS = WORKERS_SETTING + "={value!r}: a number of processes, 1 or more (1: no parallel hashing)"
Scanned = tuple[int, list[Finding], set[int | None], list[int | None]]  # rows, findings, seqs seen, seqs unclaimed


def workers() -> int:
    """``GOVFLOW_VERIFY_WORKERS``, else the machine's cores (at most 8)."""
    from govflow.errors import InputError

    text = os.environ.get(WORKERS_SETTING, "").strip()
    if not text:
        return min(os.cpu_count() or 1, 8)
    if not text.isdigit() or int(text) < 1:
        raise InputError(BAD_WORKERS.format(value=text))
    return int(text)


def check_rows(ledger: Ledger, payloads: dict[int, str], report: Report, skip: set[str] = frozenset(),  # type: ignore[assignment]
               after: int = 0) -> None:
    claimed_by_table = _claims(payloads, report)
    processes = workers()
    for name, table in TABLES.items():
        if name in skip:  # a table the schema pass found missing: already a finding
            continue
        claimed = claimed_by_table.get(name, {})
        if processes > 1 and sum(int(c["rows"]) for c in claimed.values()) > PARALLEL_ROWS:  # type: ignore[call-overload]
            rows, findings, seen, unclaimed = _scan_parallel(ledger, name, claimed, report, after, processes)
        else:
            with ledger.read() as conn:
                rows, findings, seen, unclaimed = scan_table(conn, name, after_clause(table, after), claimed,
                                                             report.head_seq, report.gaps)
        report.rows += rows
        report.findings += findings
        if unclaimed:
            with ledger.read() as conn:
                _name_uncovered_rows(conn, name, table, unclaimed, report)
        for seq in sorted(set(claimed) - seen):  # type: ignore[type-var]
            report.findings.append(Finding(seq, f"table {name}", f"all {claimed[seq]['rows']} row(s) recorded by this entry were removed"))


def scan_table(conn: Connection, name: str, where: ColumnElement[bool], claimed: dict[int, dict[str, object]],
               head_seq: int, gaps: list[range]) -> Scanned:
    """One table's rows matching ``where``, grouped by entry, each group against its entry's claim."""
    table = TABLES[name]
    local = Report(head_seq=head_seq, gaps=gaps)
    seen: set[int | None] = set()
    unclaimed: list[int | None] = []
    result = conn.execution_options(stream_results=True, yield_per=5000).execute(
        select(table).where(where).order_by(table.c.audit_seq))
    group_seq: object = _NO_GROUP  # rows come grouped by audit_seq; NULLs form one group too
    group_hashes: list[str] = []
    for row in result.mappings():
        local.rows += 1
        seq = row["audit_seq"]
        if seq != group_seq:
            if group_seq is not _NO_GROUP:
                _compare(name, group_seq, group_hashes, claimed, local, unclaimed)  # type: ignore[arg-type]
                seen.add(group_seq)  # type: ignore[arg-type]
            group_seq, group_hashes = seq, []
        group_hashes.append(row_hash(name, row))
    if group_seq is not _NO_GROUP:
        _compare(name, group_seq, group_hashes, claimed, local, unclaimed)  # type: ignore[arg-type]
        seen.add(group_seq)  # type: ignore[arg-type]
    return local.rows, local.findings, seen, unclaimed


def _bounds(claimed: dict[int, dict[str, object]], parts: int) -> list[int]:
    """Sequence numbers splitting the claimed rows into ``parts`` ranges of about equal rows."""
    total = sum(int(c["rows"]) for c in claimed.values())  # type: ignore[call-overload]
    bounds: list[int] = []
    running = 0
    for seq in sorted(claimed):
        if running >= total * (len(bounds) + 1) / parts and len(bounds) < parts - 1:
            bounds.append(seq)
        running += int(claimed[seq]["rows"])  # type: ignore[call-overload]
    return bounds


def _scan_parallel(ledger: Ledger, name: str, claimed: dict[int, dict[str, object]], report: Report, after: int,
                   processes: int) -> Scanned:
    """`scan_table` over ranges of entries, one process each (hashing is CPU-bound Python: threads
    would take turns on one core). The first range also takes the rows with no entry."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    edges: list[int | None] = [None, *_bounds(claimed, processes), None]
    url = ledger.engine.url.render_as_string(hide_password=False)
    rows, findings, unclaimed = 0, [], []
    seen: set[int | None] = set()
    with ProcessPoolExecutor(len(edges) - 1, mp_context=multiprocessing.get_context("spawn")) as pool:
        jobs = [pool.submit(_scan_range, url, name, low, high, after,
                            {seq: c for seq, c in claimed.items() if (low is None or seq >= low) and (high is None or seq < high)},
                            report.head_seq, report.gaps)
                for low, high in zip(edges, edges[1:], strict=False)]
        for job in jobs:
            part_rows, part_findings, part_seen, part_unclaimed = job.result()
            rows, seen = rows + part_rows, seen | part_seen
            findings += part_findings
            unclaimed += part_unclaimed
    return rows, findings, seen, unclaimed


def _scan_range(url: str, name: str, low: int | None, high: int | None, after: int,
                claimed: dict[int, dict[str, object]], head_seq: int, gaps: list[range]) -> Scanned:
    """In a worker process: its own connection, the rows of the entries in ``[low, high)``."""
    from sqlalchemy import and_, create_engine

    table = TABLES[name]
    where = [after_clause(table, after)]
    if low is not None:
        where.append(table.c.audit_seq >= low)
    if high is not None:
        where.append(table.c.audit_seq < high if low is not None else or_(table.c.audit_seq < high, table.c.audit_seq.is_(None)))
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return scan_table(conn, name, and_(*where), claimed, head_seq, gaps)
    finally:
        engine.dispose()


_NO_GROUP = object()
NAMED_ROWS_MAX = 20  # uncovered rows named one by one per table and entry; the rest are counted


def _compare(name: str, seq: int | None, hashes: list[str], claimed: dict[int, dict[str, object]], report: Report,
             unclaimed: list[int | None]) -> None:
    want = claimed.get(seq) if seq is not None else None
    if want is None:
        if seq is not None and 1 <= seq <= report.head_seq:
            report.findings.append(Finding(seq, f"table {name}", f"{len(hashes)} row(s) claim this entry, which recorded none in {name}: added behind the chain"))
        if seq is None or not report.has_entry(seq):
            unclaimed.append(seq)  # rows no entry accounts for: named one by one, after the pass
        return
    if len(hashes) != want["rows"]:
        verb = "added behind the chain" if len(hashes) > int(want["rows"]) else "removed"  # type: ignore[call-overload]
        report.findings.append(Finding(seq, f"table {name}", f"entry recorded {want['rows']} row(s), found {len(hashes)}: row(s) {verb}"))
    elif canon.sha256_hex("".join(sorted(hashes)).encode()) != want["hash"]:
        report.findings.append(Finding(seq, f"table {name}", "a row recorded by this entry was changed"))


def _name_uncovered_rows(conn: Connection, name: str, table: Table, groups: list[int | None], report: Report) -> None:
    """Each row no chain entry accounts for, by its key: a NULL audit_seq, or one the chain does not have."""
    key_columns = list(table.primary_key.columns)
    for seq in groups:
        where = table.c.audit_seq.is_(None) if seq is None else table.c.audit_seq == seq
        keys = conn.execute(select(*key_columns).where(where).order_by(*key_columns).limit(NAMED_ROWS_MAX + 1)).all()
        total = conn.execute(select(func.count()).select_from(table).where(where)).scalar_one()
        problem = ("has no audit_seq: not covered by the chain" if seq is None
                   else f"claims entry {seq}, which the chain does not have")
        for key in keys[:NAMED_ROWS_MAX]:
            shown = ", ".join(f"{c.name}={v}" for c, v in zip(key_columns, key, strict=True))
            report.findings.append(Finding(seq, f"table {name}", f"row {shown} {problem}"))
        if total > NAMED_ROWS_MAX:
            report.findings.append(Finding(seq, f"table {name}", f"and {total - NAMED_ROWS_MAX} more row(s) that {problem.replace('has no', 'have no').replace('claims', 'claim')}"))
