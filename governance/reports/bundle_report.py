"""The bundle's ``report.html``: one self-contained page over the exported rows, navigable by anchors.

From each gate decision to the gate run, its check results and the data fingerprints they were
computed on; from the model version to the training run and the data set versions it read; every
run with its inputs and outputs; every document with its sha256 and a link to its file in the
bundle. Pure: rows in, HTML out (all recorded text escaped; no script, nothing loaded from anywhere).
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from govflow.governance.registry.versions import VersionRef
from govflow.governance.reports.bundle_charts import charts_section
from govflow.governance.reports.documents.render import CSS

Rows = Mapping[str, Sequence[Mapping[str, Any]]]
PASSED = {1: '<strong class="badge badge-pass">PASS</strong>', 0: '<strong class="badge badge-fail">FAIL</strong>',
          None: '<strong class="badge badge-muted">NOT JUDGED</strong>'}


def e(value: Any) -> str:
    return html.escape("—" if value is None else str(value))


def a(anchor: str, text: Any) -> str:
    return f'<a href="#{e(anchor)}">{e(text)}</a>'


def table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _short(text: Any, n: int = 16) -> str:
    s = str(text)
    return s if len(s) <= n + 6 else s[:n] + "…"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)[:200]
    return str(value)


class _Page:
    def __init__(self, rows: Rows, plain: Rows) -> None:
        self.rows, self.plain = rows, plain
        self.runs = {r["id"]: r for r in rows.get("runs", [])}
        self.states: dict[str, Mapping[str, Any]] = {}
        for s in plain.get("run_states", []):
            self.states[s["run_id"]] = s
        self.started = {r["id"]: r["started_at"] for r in plain.get("runs", [])}
        self.datasets = {d["id"]: d for d in plain.get("dataset_versions", [])}
        self.edges: dict[str, list[Mapping[str, Any]]] = {}
        for edge in rows.get("edges", []):
            self.edges.setdefault(edge["run_id"], []).append(edge)
        self.checks_by_root: dict[str, list[Mapping[str, Any]]] = {}
        for c in rows.get("check_results", []):
            self.checks_by_root.setdefault(self.root(c["run_id"]), []).append(c)

    def root(self, run_id: str | None) -> str:
        run = self.runs.get(run_id or "")
        return str(run["root_run_id"] or run["id"]) if run else str(run_id)

    def run_link(self, run_id: str | None) -> str:
        if not run_id or run_id not in self.runs:
            return e(run_id)
        return a(f"run-{run_id}", f"{self.runs[run_id]['name']} ({_short(run_id, 8)})")

    def entity(self, edge: Mapping[str, Any]) -> str:
        if edge["entity_kind"] == "dataset" and edge["entity_id"] in self.datasets:
            return a(f"ds-{edge['entity_id']}", f"{edge['role']}: {self.datasets[edge['entity_id']]['name']} {_short(edge['fingerprint'], 20)}")
        return f"{e(edge['role'])}: <code>{e(edge['entity_kind'])} {e(_short(edge['fingerprint'], 20))}</code>"

    def inputs_of(self, root: str) -> set[str]:
        return {ed["entity_id"] for rid, es in self.edges.items() if self.root(rid) == root for ed in es
                if ed["direction"] == "input" and ed["entity_kind"] == "dataset"}


def _decisions(p: _Page, plain: Rows) -> list[str]:
    """The gate decisions section: each decision with its run, its checks by kind and the data it checked."""
    out: list[str] = []
    out.append('<h2 id="decisions">Gate decisions</h2>')
    decisions = plain.get("decisions", [])
    if not decisions:
        out.append("<p><em>No gate decision recorded for this version.</em></p>")
    for d in decisions:
        root = p.root(d["run_id"])
        counts: dict[str, int] = {}
        for c in p.checks_by_root.get(root, []):
            counts[c["kind"]] = counts.get(c["kind"], 0) + 1
        data = [a(f"ds-{i}", f"{p.datasets[i]['name']} {_short(p.datasets[i]['fingerprint'], 20)}")
                for i in sorted(p.inputs_of(root)) if i in p.datasets]
        reasons = "".join(f"<li>{e(r)}</li>" for r in json.loads(d["reasons_json"]))
        out.append(f'<h3 id="decision-{e(d["id"])}">{e(d["outcome"]).upper()} at {e(d["decided_at"])}</h3>'
                   + table(("Item", "Recorded"), [
                       ("Decision", f"<code>decisions/{e(d['id'])}</code>"),
                       ("Policy hash", f"<code>{e(d['policy_hash'])}</code>"),
                       ("Gate run", p.run_link(root) + " (recorded by " + p.run_link(d["run_id"]) + ")"),
                       ("Check results", ", ".join(a(f"checks-{root}", f"{n} {k}") for k, n in sorted(counts.items())) or "—"),
                       ("Data checked (fingerprints)", "<br>".join(data) or "—"),
                   ]) + f"<ul>{reasons}</ul>")
    return out


def _runs_and_checks(p: _Page, plain: Rows) -> list[str]:
    """The runs section (each root flow with its tasks) and the check results recorded under each root."""
    out: list[str] = []
    out.append('<h2 id="runs">Runs</h2>')
    roots = sorted({p.root(r) for r in p.runs}, key=lambda r: str(p.started.get(r, "")))
    for root in roots:
        members = sorted((r for r in p.runs if p.root(r) == root), key=lambda r: (r != root, str(p.started.get(r, "")), r))
        out.append(f"<h3>{p.run_link(root)}</h3>" + table(("Run", "Kind", "State", "Started", "Code", "Inputs", "Outputs"), [
            (f'<span id="run-{e(r)}">{e(p.runs[r]["name"])}</span> <code>{e(_short(r, 8))}</code>', e(p.runs[r]["kind"]),
             e(p.states.get(r, {}).get("state")), e(p.started.get(r)), f"<code>{e(p.runs[r]['code_ref'])}</code>",
             "<br>".join(p.entity(x) for x in p.edges.get(r, []) if x["direction"] == "input" and x["entity_kind"] != "value"),
             "<br>".join(p.entity(x) for x in p.edges.get(r, []) if x["direction"] == "output" and x["entity_kind"] != "value"))
            for r in members]))
    out.append('<h2 id="checks">Check results</h2>')
    decoded = {c["id"]: c for c in plain.get("check_results", [])}
    for root, checks in sorted(p.checks_by_root.items(), key=lambda kv: str(p.started.get(kv[0], ""))):
        out.append(f'<h3 id="checks-{e(root)}">Recorded by {p.run_link(root)}</h3>' + table(
            ("Kind", "Check", "Subject", "Result", "Observed", "Threshold", "Severity", "Run"), [
                (e(c["kind"]), f'<span id="check-{e(c["id"])}">{e(c["name"])}</span>', e(c["subject"]), PASSED.get(c["passed"], ""),
                 e(_fmt(json.loads(decoded[c["id"]]["observed_json"]))), e(_fmt(json.loads(decoded[c["id"]]["threshold_json"]))),
                 e(c["severity"]), p.run_link(c["run_id"])) for c in checks]))
    return out


def report_html(version: VersionRef, rows: Rows, plain: Rows, head: Mapping[str, Any], exported_at: str,
                doc_paths: Mapping[str, str], entries: int, events: int,
                group_table: Sequence[Mapping[str, Any]] = ()) -> str:
    p = _Page(rows, plain)
    mv = plain["model_versions"][0]
    out: list[str] = [f"<h1>Auditor's bundle: {e(version)}</h1>",
                      "<p><strong>Disclaimer.</strong> Generated by govflow from the records of its lineage ledger; it cites public "
                      "texts, reports only what is recorded and is not legal advice.</p>",
                      table(("About this bundle", ""), [
                          ("Model version", f"<code>{e(version)}</code> ({a('model', 'details')})"),
                          ("Exported at", f"<code>{e(exported_at)}</code>"),
                          ("Ledger", f"<code>{e(head['ledger_id'])}</code>"),
                          ("Chain head", f"seq {e(head['seq'])}, <code>{e(head['entry_hash'])}</code>"),
                          ("Verify", "<code>python3 verify_bundle.py</code>, then <code>govflow verify --head "
                                     f"{e(head['entry_hash'])}</code> on the ledger"),
                      ]),
                      "<nav><p>" + " · ".join(a(k, v) for k, v in (
                          ("decisions", "Gate decisions"), ("charts", "Fairness and drift"), ("approvals", "Approvals"),
                          ("stages", "Stage history"),
                          ("model", "Model version"), ("runs", "Runs"), ("checks", "Check results"),
                          ("datasets", "Data sets"), ("documents", "Documents"), ("chain", "Chain segment"))) + "</p></nav>"]
    out += _decisions(p, plain)
    out += charts_section(plain, group_table)
    out.append('<h2 id="approvals">Approvals</h2>')
    out.append(table(("Role", "Approver", "OS user", "Decision", "Rationale", "Evidence hash", "At"), [
        (e(r["role"]), e(r["approver"]), e(r["os_user"]), e(r["decision"]), e(r["rationale"]),
         f"<code>{e(_short(r['evidence_hash']))}</code>", e(r["decided_at"])) for r in plain.get("approvals", [])])
        if plain.get("approvals") else "<p><em>No approval recorded.</em></p>")
    out.append('<h2 id="stages">Stage history</h2>' + table(("Stage", "At", "By", "Reason"), [
        (e(s["stage"]), e(s["at"]), e(s["by"]), e(s["reason"])) for s in plain.get("stage_changes", [])]))
    out.append('<h2 id="model">Model version</h2>' + table(("Item", "Recorded"), [
        ("Row", f"<code>model_versions/{e(mv['id'])}</code>"), ("Fingerprint", f"<code>{e(mv['fingerprint'])}</code>"),
        ("Model bytes sha256", f"<code>{e(mv['artifact_hash'])}</code>"), ("Training run", p.run_link(mv["training_run_id"])),
        ("Hyperparameters", f"<code>{e(mv['hyperparams_json'])}</code>"), ("Registered at", e(mv["created_at"]))]))
    out += _runs_and_checks(p, plain)
    out.append('<h2 id="datasets">Data sets (content fingerprints)</h2>' + table(
        ("Data set", "Fingerprint", "Schema hash", "Rows", "Produced by", "Used by"), [
            (f'<span id="ds-{e(d["id"])}">{e(d["name"])}</span>', f"<code>{e(d['fingerprint'])}</code>",
             f"<code>{e(d['schema_hash'])}</code>", e(d["row_count"]), p.run_link(d["produced_by_run_id"]),
             ", ".join(p.run_link(rid) for rid, es in sorted(p.edges.items()) for x in es
                       if x["entity_id"] == d["id"] and x["direction"] == "input"))
            for d in plain.get("dataset_versions", [])]))
    out.append('<h2 id="documents">Documents</h2>' + table(("Kind", "Document", "sha256", "Created"), [
        (e(d["kind"]), f'<a href="{e(doc_paths[d["id"]])}">{e(d["name"])}</a>' if d["id"] in doc_paths else e(d["name"]) + " (not included)",
         f"<code>{e(d['content_hash'])}</code>", e(d["created_at"])) for d in plain.get("artifacts", [])]))
    counts_by_table = ", ".join(f"{len(v)} {k}" for k, v in sorted(plain.items()))
    out.append(f'<h2 id="chain">Chain segment</h2><p>{e(entries)} audit entries up to head {e(head["seq"])} '
               f"<code>{e(head['entry_hash'])}</code>; {e(counts_by_table)}; {e(events)} OpenLineage events "
               "(<code>lineage/openlineage.jsonl</code>) and the PROV-JSON graph (<code>lineage/prov.json</code>).</p>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
            f"<title>Auditor's bundle: {e(version)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
            + "\n".join(out) + "\n</main>\n</body>\n</html>\n")
