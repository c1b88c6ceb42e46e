"""The auditor's bundle: one zip with everything about a model version, verifiable by anyone.

``govflow export NAME:VERSION --format bundle -o FILE.zip`` writes:

==============================  ==========================================================================
``report.html``                 one self-contained page, navigable from each decision to the runs, checks
                                and data fingerprints behind it (`govflow.governance.reports.bundle_report`)
``documents/``                  every document stored with the version (model card, datasheets, Annex IV,
                                gap reports, risk classification, attached plans...); earlier editions of
                                a document under ``documents/earlier/``
``checks/check_results.json``   every check result of the version's runs, decoded, with its row hash
``lineage/openlineage.jsonl``   the runs as OpenLineage events (`govflow.governance.lineage.openlineage.replay_events`)
``lineage/prov.json``           the lineage as W3C PROV-JSON (`govflow.governance.lineage.prov`)
``chain/entries.jsonl``         the audit chain from the first entry that wrote a row of this version to
                                the head, every entry in between
``chain/rows.jsonl``            the ledger rows about this version, exactly as hashed
``chain/row_hashes.json``       per entry and table, the hashes of all the rows it covers there (so the
                                included rows can be checked against the entry without the others)
``chain/head.json``             the head: seq, entry hash, ledger id
``verify_bundle.py``            the standalone verifier (`govflow.governance.reports.bundle_verifier`, standard library only)
``manifest.json``               canonical JSON: the sha256 of every other file, and the head
==============================  ==========================================================================

Model bytes and data splits (parquet) are not included: they are identified by their hashes, and the
data may be personal. Everything is read in one repeatable-read transaction, so the bundle is one
consistent state of the ledger.
"""

from __future__ import annotations

import importlib.metadata
import json
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, false, or_, select

from govflow import canonical as canon
from govflow.governance.ledger.engine import COLUMN_KINDS, TABLES, Ledger, row_hash
from govflow.governance.ledger.schema import AuditEntry
from govflow.governance.lineage.prov import version_run_ids
from govflow.governance.registry.versions import resolve

FORMAT = "govflow-bundle/1"
VERIFIER = Path(__file__).with_name("bundle_verifier.py")
DOCUMENT_MEDIA = ("text/", "application/json")
README = """govflow auditor's bundle for {subject}
=========================================

Exported {exported_at} from ledger {ledger_id}, chain head {seq} {head}.

Open report.html in a browser (it loads nothing from anywhere).

Check that nothing in this bundle was altered, with Python 3 and nothing else:

    python3 verify_bundle.py            (in the folder where the bundle was unzipped)
    python3 verify_bundle.py FILE.zip   (or on the archive itself)

It re-computes every hash: each file against manifest.json, the audit chain segment, each ledger row
against the entry that recorded it, each document against its chained artifact row; and it checks
each signed approval with ssh-keygen -Y verify (OpenSSH 8.1+, when on PATH). Then check the
ledger still holds this chain: govflow verify --head {head}

The software cites public texts and reports only what its ledger records; it is not legal advice.
"""


@dataclass(frozen=True)
class BundleSummary:
    path: Path
    subject: str
    files: int
    rows: int
    entries: int
    head_seq: int
    head_hash: str
    manifest_sha256: str

    def describe(self) -> str:
        return (f"wrote the auditor's bundle of {self.subject} to {self.path}: {self.files} files, {self.rows} chained rows, "
                f"{self.entries} audit entries up to head {self.head_seq} {self.head_hash}; manifest sha256 "
                f"{self.manifest_sha256}. Check it with: python3 verify_bundle.py {self.path.name}")


def plain_row(table: str, row: Any) -> dict[str, Any]:
    """A ledger row exactly as its hash is computed (timestamps as RFC 3339 text)."""
    out = {}
    for name, kind in COLUMN_KINDS[table]:
        value = row[name]
        out[name] = canon.format_ts(value) if kind == "dt" and value is not None else value
    return out


def _rows(conn: Connection, table: Table, clause: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(select(table).where(clause).order_by(table.c.audit_seq, table.c.id)).mappings()]


def _in(column: Any, values: Iterable[Any]) -> Any:
    values = sorted({v for v in values if v is not None})
    return column.in_(values) if values else false()


def collect(conn: Connection, mv_id: str) -> dict[str, list[dict[str, Any]]]:
    """The ledger rows about one version: its registration, stages, decisions, the policies they applied
    and the system's policy history, approvals and their signatures, documents, the runs behind it
    (their states, edges, check results), the data set versions they touched, incidents."""
    t = TABLES
    found: dict[str, list[dict[str, Any]]] = {}
    found["model_versions"] = _rows(conn, t["model_versions"], t["model_versions"].c.id == mv_id)
    for name in ("stage_changes", "decisions", "approvals", "artifacts"):
        found[name] = _rows(conn, t[name], t[name].c.model_version_id == mv_id)
    run_ids = set(version_run_ids(conn, mv_id))
    found["runs"] = _rows(conn, t["runs"], _in(t["runs"].c.id, run_ids))
    run_ids = {r["id"] for r in found["runs"]}
    found["run_states"] = _rows(conn, t["run_states"], _in(t["run_states"].c.run_id, run_ids))
    found["edges"] = _rows(conn, t["edges"], _in(t["edges"].c.run_id, run_ids))
    found["check_results"] = _rows(conn, t["check_results"], or_(_in(t["check_results"].c.run_id, run_ids),
                                                                  t["check_results"].c.model_version_id == mv_id))
    datasets = {e["entity_id"] for e in found["edges"] if e["entity_kind"] == "dataset"}
    found["dataset_versions"] = _rows(conn, t["dataset_versions"], _in(t["dataset_versions"].c.id, datasets))
    found["approval_signatures"] = _rows(conn, t["approval_signatures"],
                                         _in(t["approval_signatures"].c.approval_id, {a["id"] for a in found["approvals"]}))
    system = found["model_versions"][0]["system"] if found["model_versions"] else None
    found["policies"] = _rows(conn, t["policies"], (t["policies"].c.system == system)
                              & _in(t["policies"].c.policy_hash, {d["policy_hash"] for d in found["decisions"]}))
    found["policy_approvals"] = _rows(conn, t["policy_approvals"], t["policy_approvals"].c.system == system)
    found["incidents"] = _rows(conn, t["incidents"], t["incidents"].c.model_version_id == mv_id)
    found["incident_events"] = _rows(conn, t["incident_events"],
                                     _in(t["incident_events"].c.incident_id, {i["id"] for i in found["incidents"]}))
    return {k: v for k, v in found.items() if v}


def _covered_hashes(conn: Connection, rows: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, list[str]]]:
    """For each (entry, table) of the included rows: the hashes of all the rows that entry wrote there."""
    out: dict[str, dict[str, list[str]]] = {}
    for table, items in rows.items():
        for seq in sorted({r["audit_seq"] for r in items}):
            every = conn.execute(select(TABLES[table]).where(TABLES[table].c.audit_seq == seq)).mappings()
            out.setdefault(str(seq), {})[table] = sorted(row_hash(table, r) for r in every)
    return out


def _entries(conn: Connection, first: int, last: int) -> list[dict[str, Any]]:
    result = conn.execute(select(AuditEntry).where(AuditEntry.seq >= first, AuditEntry.seq <= last).order_by(AuditEntry.seq))
    return [dict(r) for r in result.mappings()]


def _jsonl(items: Iterable[Any]) -> bytes:
    return b"".join(canon.canonical(i) + b"\n" for i in items)


def _pretty(value: Any) -> bytes:
    return (json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _documents(ledger: Ledger, artifacts: list[dict[str, Any]]) -> tuple[dict[str, bytes], dict[str, str]]:
    """The version's text documents: the latest edition of each name at the top, earlier ones apart."""
    files: dict[str, bytes] = {}
    where: dict[str, str] = {}
    docs = [a for a in artifacts if a["media_type"].startswith(DOCUMENT_MEDIA)]
    latest = {a["name"]: a["id"] for a in docs}  # ordered by audit_seq: the last one wins
    for a in docs:
        path = f"documents/{a['name']}" if latest[a["name"]] == a["id"] else f"documents/earlier/{a['audit_seq']:06d}-{a['name']}"
        if ledger.artifacts.problem(a["content_hash"]) is None:
            files[path] = ledger.artifacts.read(a["content_hash"])
            where[a["id"]] = path
    return files, where


def _group_table(artifacts: list[dict[str, Any]], documents: dict[str, bytes], where: dict[str, str]
                 ) -> list[dict[str, Any]]:
    """The rows of the latest by-group fairness table included in the bundle (for its charts)."""
    from govflow.governance.reports.evidence import GROUP_TABLE_KIND

    found = [a for a in artifacts if a["kind"] == GROUP_TABLE_KIND and a["id"] in where]
    if not found:
        return []
    data = json.loads(documents[where[found[-1]["id"]]])
    if isinstance(data, dict):
        data = data.get("by_group", (data.get("tables") or {}).get("by_group"))
    return [r for r in data if isinstance(r, dict)] if isinstance(data, list) else []


def build_bundle(ledger: Ledger, ref: str, out: Path) -> BundleSummary:
    """Write the bundle of ``NAME:VERSION`` to ``out`` (a .zip)."""
    from govflow.governance.lineage import openlineage as ol
    from govflow.governance.lineage.prov import prov_document
    from govflow.governance.reports.bundle_report import report_html

    with ledger.read() as raw:
        conn = raw if ledger.is_sqlite else raw.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            version = resolve(conn, ref)
            head_seq, head_hash = conn.execute(select(AuditEntry.seq, AuditEntry.entry_hash)
                                               .order_by(AuditEntry.seq.desc()).limit(1)).one()
            ledger_id = str(conn.execute(select(AuditEntry.subject).where(AuditEntry.seq == 1)).scalar()).removeprefix("ledger ")
            rows = collect(conn, version.id)
            plain = {table: [plain_row(table, r) for r in items] for table, items in rows.items()}
            for table, items in rows.items():  # the export must hash exactly as the ledger does
                for original, exported in zip(items, plain[table]):
                    assert canon.hash_value({"table": table, "row": exported}) == row_hash(table, original), (table, original["id"])
            covered = _covered_hashes(conn, rows)
            first = min(int(s) for s in covered)
            entries = _entries(conn, first, int(head_seq))
            prov = prov_document(conn, version.id)
            run_ids = [r["id"] for r in rows.get("runs", [])]
    events = ol.replay_events(ledger, run_ids, namespace=ol.namespace_for(version.system))
    exported_at = canon.format_ts(canon.utc_now())
    head = {"seq": int(head_seq), "entry_hash": str(head_hash), "ledger_id": ledger_id}
    documents, doc_paths = _documents(ledger, rows.get("artifacts", []))
    checks = [{"id": r["id"], "row_hash": row_hash("check_results", r), **{k: v for k, v in p.items() if not k.endswith("_json")},
               "observed": json.loads(r["observed_json"]), "threshold": json.loads(r["threshold_json"]),
               "details": json.loads(r["details_json"])}
              for r, p in zip(rows.get("check_results", []), plain.get("check_results", []))]
    files: dict[str, bytes] = {
        "README.txt": README.format(subject=version, exported_at=exported_at, ledger_id=ledger_id, seq=head_seq,
                                    head=head_hash).encode("utf-8"),
        "report.html": report_html(version, rows, plain, head, exported_at, doc_paths, len(entries), len(events),
                                   _group_table(rows.get("artifacts", []), documents, doc_paths)).encode("utf-8"),
        **documents,
        "checks/check_results.json": _pretty(checks),
        "lineage/openlineage.jsonl": b"".join(json.dumps(e, sort_keys=True, ensure_ascii=False).encode("utf-8") + b"\n" for e in events),
        "lineage/prov.json": _pretty(prov),
        "chain/entries.jsonl": _jsonl({k: e[k] for k in ("seq", "recorded_at", "event_type", "subject", "payload_json",
                                                         "payload_hash", "prev_hash", "entry_hash")} for e in entries),
        "chain/rows.jsonl": _jsonl({"table": table, "row": r} for table in sorted(plain) for r in plain[table]),
        "chain/row_hashes.json": _pretty(covered),
        "chain/head.json": _pretty(head),
        "verify_bundle.py": VERIFIER.read_bytes(),
    }
    manifest = canon.canonical({"format": FORMAT, "subject": str(version), "model_version_id": version.id,
                                "exported_at": exported_at, "generator": _generator(), "head": head,
                                "files": {name: canon.sha256_hex(data) for name, data in sorted(files.items())}})
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(files.items()):
            archive.writestr(name, data)
        archive.writestr("manifest.json", manifest)
    tmp.replace(out)
    return BundleSummary(path=out, subject=str(version), files=len(files) + 1, rows=sum(len(v) for v in rows.values()),
                         entries=len(entries), head_seq=int(head_seq), head_hash=str(head_hash),
                         manifest_sha256=canon.sha256_hex(manifest))


def write_prov(ledger: Ledger, ref: str, out: Path) -> str:
    """``--format prov``: the version's lineage as PROV-JSON."""
    from govflow.governance.lineage.prov import prov_document

    with ledger.read() as conn:
        version = resolve(conn, ref)
        doc = prov_document(conn, version.id)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(_pretty(doc))
    return (f"wrote the lineage of {version} as W3C PROV-JSON to {out}: {len(doc['activity'])} activities, "
            f"{len(doc['entity'])} entities, {len(doc['agent'])} agents")


def _generator() -> str:
    try:
        return "govflow " + importlib.metadata.version("govflow")
    except importlib.metadata.PackageNotFoundError:
        return "govflow"
