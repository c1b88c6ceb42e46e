"""Regulatory gap analysis: requirement catalogues as data, evidence from the ledger, progress over time.

`load_catalogues` reads every ``governance/reports/regulations/*.yaml`` (one framework per file: adding a
framework is adding a file) and validates it strictly: an unknown key, record kind, scope or severity
is an error naming the file and the requirement. `record_gap` evaluates each requirement against the
ledger for one system (the evidence queries are in `govflow.governance.reports.gap_queries`), classifies the system
(`govflow.governance.reports.classification`), compares with the system's previous gap report, and records it all in
one ledger transaction: a ``command`` run ``gap``, the classification (an artifact
``risk_classification`` and a ``check_results`` row), and the report as artifacts of kind
``gap_report`` (Markdown, HTML and the JSON the next report compares with), linked to the version under
review. `GapReport.passed` is false when a mandatory requirement of a high-risk system is missing or
stale (`govflow gap` then exits 1); voluntary frameworks (``binding: false``) never fail it.

The report cites public texts and reports only what the ledger records; it is not legal advice.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Connection, select

from govflow import canonical as canon
from govflow.errors import ConfigError, InputError
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import Artifact, AuditEntry, Edge, ModelVersion, Run, RunState
from govflow.governance.registry.versions import VersionRef, production_version, resolve
from govflow.governance.reports import gap_queries as gq
from govflow.governance.reports.classification import classify_config, record_classification
from govflow.governance.reports.gap_queries import Link, Status, Subject
from govflow.governance.reports.gap_report import render, summary_lines
from govflow.governance.reports.gap_types import (
    SEVERITIES,
    Assessment,
    Change,
    EvidenceKind,
    Framework,
    GapReport,
    Progress,
    Requirement,
)

REGULATIONS = Path(__file__).parent / "regulations"
SCOPES = ("candidate", "production", "system")
REPORT_KIND = "gap_report"
FRAMEWORK_KEYS = {"framework", "title", "binding", "requirements", "annex_iii", "evidence_kinds"}
REQUIREMENT_KEYS = {"id", "citation", "title", "mandatory_high_risk", "severity", "scope", "evidence", "remediation"}
OPTIONAL_KEYS = {"applies"}
# When a requirement applies (``applies:``, one key); otherwise it is not applicable, saying why:
# annex_iii / not_annex_iii: the system's declared or matched Annex III points are (not) among these;
# classification: presumed (the purpose matches Annex III, no point declared); config: KEY is set.
APPLIES = ("annex_iii", "not_annex_iii", "classification", "config")
EVIDENCE_KIND_KEYS = {"kind", "title", "template"}
ITEM_KEYS = {"record", "kind", "check", "outcome", "passed", "key", "min", "origin", "consistent", "fresh"}

UNKNOWN_FRAMEWORK = "unknown framework '{name}'; the catalogues are: {known}"
BAD_CATALOGUE = "{file}: {where}: {problem}"


class CatalogueError(ConfigError):
    """A requirement catalogue file is malformed (its message names the file and the requirement)."""


# -- catalogues ------------------------------------------------------------------------------------

def _bad(file: Path, where: str, problem: str) -> CatalogueError:
    return CatalogueError(BAD_CATALOGUE.format(file=file.name, where=where, problem=problem))


def _requirement(file: Path, framework: str, raw: Any, index: int) -> Requirement:
    where = f"requirements[{index}]" + (f" ({raw.get('id')})" if isinstance(raw, dict) and raw.get("id") else "")
    if not isinstance(raw, dict):
        raise _bad(file, where, "expected a mapping")
    unknown = set(raw) - REQUIREMENT_KEYS - OPTIONAL_KEYS
    if unknown:
        raise _bad(file, where, f"unknown key(s) {sorted(unknown)}; allowed: {', '.join(sorted(REQUIREMENT_KEYS | OPTIONAL_KEYS))}")
    applies = raw.get("applies")
    if applies is not None and (not isinstance(applies, dict) or len(applies) != 1 or next(iter(applies)) not in APPLIES):
        raise _bad(file, where, f"applies must be one of {{{', '.join(APPLIES)}: ...}}, not {applies!r}")
    missing = REQUIREMENT_KEYS - set(raw)
    if missing:
        raise _bad(file, where, f"missing key(s) {sorted(missing)}")
    if raw["severity"] not in SEVERITIES:
        raise _bad(file, where, f"severity '{raw['severity']}' is not one of {', '.join(SEVERITIES)}")
    if raw["scope"] not in SCOPES:
        raise _bad(file, where, f"scope '{raw['scope']}' is not one of {', '.join(SCOPES)}")
    if not isinstance(raw["mandatory_high_risk"], bool):
        raise _bad(file, where, "mandatory_high_risk must be true or false")
    items = raw["evidence"]
    if not isinstance(items, list) or not items:
        raise _bad(file, where, "evidence must be a non-empty list of {record: KIND, ...}")
    for item in items:
        if not isinstance(item, dict) or item.get("record") not in gq.RECORD_KINDS:
            raise _bad(file, where, f"evidence item {item!r}: record must be one of {', '.join(gq.RECORD_KINDS)}")
        if set(item) - ITEM_KEYS:
            raise _bad(file, where, f"evidence item {item!r}: unknown key(s) {sorted(set(item) - ITEM_KEYS)}")
        if item["record"] == "artifact" and not item.get("kind") or item["record"] == "check_results" and not item.get("check") \
                or item["record"] == "config" and not item.get("key"):
            raise _bad(file, where, f"evidence item {item!r}: needs kind (artifact), check (check_results) or key (config)")
        if raw["scope"] == "system" and item["record"] not in gq.SYSTEM_QUERIES:
            raise _bad(file, where, f"record {item['record']} needs a version: use scope candidate or production")
    return Requirement(framework=framework, id=str(raw["id"]), citation=str(raw["citation"]), title=str(raw["title"]),
                       mandatory_high_risk=raw["mandatory_high_risk"], severity=raw["severity"], scope=raw["scope"],
                       evidence=tuple(items), remediation=" ".join(str(raw["remediation"]).split()), applies=applies)


def _evidence_kinds(file: Path, framework: str, raw: Any) -> tuple[EvidenceKind, ...]:
    if not isinstance(raw, list):
        raise _bad(file, "evidence_kinds", "expected a list of {kind, title[, template]}")
    kinds = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not item.get("kind") or not item.get("title") or set(item) - EVIDENCE_KIND_KEYS:
            raise _bad(file, f"evidence_kinds[{i}]", f"expected {{kind, title[, template]}}, got {item!r}")
        template = item.get("template") or []
        if any(not isinstance(q, dict) or set(q) != {"key", "question", "citation"} for q in template):
            raise _bad(file, f"evidence_kinds[{i}] ({item['kind']})", "template: a list of {key, question, citation}")
        kinds.append(EvidenceKind(kind=str(item["kind"]), title=str(item["title"]), framework=framework,
                                  template=tuple({k: str(v) for k, v in q.items()} for q in template)))
    return tuple(kinds)


def load_catalogue(file: Path) -> Framework:
    text = file.read_text(encoding="utf-8")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise _bad(file, "file", f"not valid YAML: {e}") from None
    if not isinstance(raw, dict) or not raw.get("framework") or not isinstance(raw.get("requirements"), list):
        raise _bad(file, "file", "expected framework:, title:, binding: and requirements: at the top")
    if set(raw) - FRAMEWORK_KEYS:
        raise _bad(file, "file", f"unknown key(s) {sorted(set(raw) - FRAMEWORK_KEYS)}")
    name = str(raw["framework"])
    requirements = tuple(_requirement(file, name, r, i) for i, r in enumerate(raw["requirements"]))
    ids = [r.id for r in requirements]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise _bad(file, "requirements", f"duplicate id(s) {duplicates}")
    return Framework(name=name, title=str(raw.get("title") or name), binding=bool(raw.get("binding", False)),
                     requirements=requirements, content_hash=canon.sha256_hex(text.encode("utf-8")),
                     evidence_kinds=_evidence_kinds(file, name, raw.get("evidence_kinds") or []))


@cache
def _all(folder: Path) -> tuple[Framework, ...]:
    return tuple(load_catalogue(f) for f in sorted(folder.glob("*.yaml")))


def load_catalogues(frameworks: Sequence[str] | None = None, folder: Path = REGULATIONS) -> tuple[Framework, ...]:
    """The catalogues of ``folder`` (all, or those named), in file-name order."""
    every = _all(folder)
    if not frameworks:
        return every
    known = {f.name: f for f in every}
    for name in frameworks:
        if name not in known:
            raise InputError(UNKNOWN_FRAMEWORK.format(name=name, known=", ".join(sorted(known))))
    return tuple(f for f in every if f.name in frameworks)


# -- evaluation ------------------------------------------------------------------------------------

def _combine(outcomes: list[gq.Outcome]) -> tuple[Status, str, tuple[Link, ...]]:
    links = tuple(link for o in outcomes for link in o.links)
    for status in (Status.MISSING, Status.STALE):
        bad = [o for o in outcomes if o.status == status]
        if bad:
            return status, "; ".join(o.detail for o in bad), links
    if all(o.status == Status.NOT_APPLICABLE for o in outcomes):
        return Status.NOT_APPLICABLE, "; ".join(o.detail for o in outcomes), links
    return Status.SATISFIED, "; ".join(o.detail for o in outcomes if o.status == Status.SATISFIED), links


def assess(conn: Connection, subject: Subject, requirement: Requirement, binding: bool) -> Assessment:
    """Judge one requirement (pure reads)."""
    mandatory = binding and requirement.mandatory_high_risk and subject.classification.high_risk
    version: VersionRef | None = None
    outcomes: list[gq.Outcome] = []
    why_not = _not_applying(subject, requirement.applies)
    if why_not:
        outcomes.append(gq.Outcome(Status.NOT_APPLICABLE, why_not))
    elif requirement.scope == "candidate":
        version = subject.candidate
        if version is None:
            outcomes.append(gq.Outcome(Status.MISSING, f"no model version recorded for {subject.system}: "
                                       "train one with `govflow run train -c govflow.yaml`"))
    elif requirement.scope == "production":
        version = subject.production or subject.last_served
        if version is None:
            outcomes.append(gq.Outcome(Status.NOT_APPLICABLE, f"applies once a version of {subject.system} has served "
                                       "a decision"))
    if not outcomes:
        for item in requirement.evidence:
            record = item["record"]
            if record in gq.SYSTEM_QUERIES:
                outcomes.append(gq.SYSTEM_QUERIES[record](conn, subject, version, item))
            else:
                assert version is not None
                outcomes.append(gq.VERSION_QUERIES[record](conn, subject, version, item))
    status, detail, links = _combine(outcomes)
    return Assessment(requirement, status, detail, links, str(version) if version else None, mandatory)


def _not_applying(subject: Subject, applies: Mapping[str, Any] | None) -> str | None:
    """None when the requirement applies to the subject, else why not."""
    if not applies:
        return None
    (key, value), = applies.items()
    c = subject.classification
    points = {p for p in ([c.declared] if c.declared else []) + [m.point for m in c.matched]}
    if key == "annex_iii" and not points & set(value):
        return f"applies to Annex III points {', '.join(value)}; {subject.system} is under {', '.join(sorted(points)) or 'none'}"
    if key == "not_annex_iii" and points and points <= set(value):
        return f"does not apply to Annex III point(s) {', '.join(sorted(points))}"
    if key == "classification" and c.basis != value:
        return f"applies when the classification is {value}; it is {c.basis} ({c.label})"
    if key == "config" and gq.dotted(subject.config, str(value)) in (None, "", []):
        return f"applies when {value} is set; it is not"
    return None


def _versions(conn: Connection, system: str, version: str | None) -> tuple[VersionRef | None, VersionRef | None]:
    production = production_version(conn, system)
    if version is not None:
        return resolve(conn, f"{system}:{version}"), production
    try:
        return resolve(conn, f"{system}:latest"), production
    except InputError:
        return None, production


def _config_mapping(config: Any) -> dict[str, Any]:
    return dict(config.snapshot()) if hasattr(config, "snapshot") else dict(config)


def _head(conn: Connection) -> tuple[int, str]:
    row = conn.execute(select(AuditEntry.seq, AuditEntry.entry_hash).order_by(AuditEntry.seq.desc()).limit(1)).one()
    return int(row[0]), str(row[1])


def evaluate(conn: Connection, config: Any, *, frameworks: Sequence[str] | None = None, version: str | None = None,
             now: datetime | None = None, classification_ids: dict[str, str] | None = None) -> GapReport:
    """Judge every requirement of the chosen catalogues for the config's system (reads only)."""
    mapping = _config_mapping(config)
    system = str(mapping["system"]["name"])
    chosen = load_catalogues(frameworks)
    candidate, production = _versions(conn, system, version)
    subject = Subject(system=system, config=mapping, candidate=candidate, production=production,
                      now=now or canon.utc_now(), classification=classify_config(mapping),
                      classification_ids=dict(classification_ids or {}),
                      last_served=gq.last_served(conn, system),
                      attachable=frozenset(k.kind for f in load_catalogues() for k in f.evidence_kinds))
    assessments = tuple(assess(conn, subject, r, f.binding) for f in chosen for r in f.requirements)
    seq, head = _head(conn)
    return GapReport(system=system, generated_at=subject.now, candidate=str(candidate) if candidate else None,
                     production=str(production) if production else None, classification=subject.classification,
                     frameworks=chosen, assessments=assessments, evaluated_at_seq=seq, evaluated_at_hash=head)


# -- progress over time ------------------------------------------------------------------------------

def report_name(system: str, suffix: str) -> str:
    return f"gap-report-{system}{suffix}"


def previous_report(conn: Connection, ledger: Ledger, system: str) -> tuple[str, dict[str, Any]] | None:
    """The system's latest recorded gap report (its artifact id and JSON), if any."""
    row = conn.execute(select(Artifact.id, Artifact.content_hash).where(
        Artifact.kind == REPORT_KIND, Artifact.name == report_name(system, ".json"))
        .order_by(Artifact.audit_seq.desc()).limit(1)).first()
    if row is None or ledger.artifacts.problem(row[1]):
        return None
    return str(row[0]), json.loads(ledger.artifacts.read(row[1]))


def compare(report: GapReport, previous_id: str, previous: Mapping[str, Any]) -> Progress:
    before = {a["key"]: a["status"] for a in previous.get("assessments", [])}
    changes = tuple(Change(a.requirement.key, a.requirement.title, before.get(a.requirement.key), a.status.value)
                    for a in report.assessments if before.get(a.requirement.key) != a.status.value)
    return Progress(previous_artifact_id=previous_id, previous_generated_at=str(previous.get("generated_at")),
                    previous_version=previous.get("candidate"), previous_counts=dict(previous.get("counts", {})),
                    changes=changes)


# -- recording -------------------------------------------------------------------------------------

def record_gap(ledger: Ledger, config: Any, *, frameworks: Sequence[str] | None = None, version: str | None = None,
               clock: Callable[[], datetime] = canon.utc_now, by: str | None = None) -> GapReport:
    """Evaluate, classify, compare and record the gap report in one ledger transaction."""
    from dataclasses import replace

    from govflow.governance.ledger.ids import new_id
    from govflow.governance.ledger.runs import add_artifact, to_json
    from govflow.governance.registry.versions import os_user

    mapping = _config_mapping(config)
    system = str(mapping["system"]["name"])
    now = clock()
    with ledger.write("gap.report", system) as w:
        run_id = new_id()
        candidate, _ = _versions(w.conn, system, version)
        mv_id = candidate.id if candidate else None
        w.add(Run, id=run_id, kind="command", name="gap", params_json=to_json(
            {"system": system, "frameworks": list(frameworks or []), "version": version, "by": by or os_user()}),
            code_ref=_package_version(), env_json=to_json({"govflow": _package_version()}),
            config_hash=canon.hash_value({k: v for k, v in mapping.items() if k != "base_dir"}), started_at=now)
        w.add(RunState, run_id=run_id, state="running", at=now)
        ids = record_classification(w, ledger.artifacts, classify_config(mapping), run_id=run_id, model_version_id=mv_id)
        report = evaluate(w.conn, mapping, frameworks=frameworks, version=version, now=now, classification_ids=ids)
        previous = previous_report(w.conn, ledger, system)
        if previous is not None:
            report = replace(report, progress=compare(report, *previous))
        report = replace(report, run_id=run_id)
        if candidate is not None:
            fingerprint = w.conn.execute(select(ModelVersion.fingerprint).where(ModelVersion.id == candidate.id)).scalar_one()
            w.add(Edge, run_id=run_id, direction="input", role="version", entity_kind="model", entity_id=None,
                  fingerprint=fingerprint)
        artifact_ids = {}
        for suffix, media, data in ((".md", "text/markdown", render(report, "md")),
                                    (".html", "text/html", render(report, "html")),
                                    (".json", "application/json", canon.canonical(report.to_dict()))):
            row = add_artifact(w, ledger.artifacts, kind=REPORT_KIND, name=report_name(system, suffix), data=data,
                               media_type=media, run_id=run_id, model_version_id=mv_id)
            artifact_ids[suffix.lstrip(".")] = str(row["id"])
            w.add(Edge, run_id=run_id, direction="output", role=f"report{suffix}", entity_kind="artifact",
                  entity_id=row["id"], fingerprint=f"sha256:{row['content_hash']}")
        w.add(RunState, run_id=run_id, state="completed", at=canon.utc_now())
    return replace(report, artifact_ids=artifact_ids)


def _package_version() -> str:
    import importlib.metadata

    try:
        return "govflow " + importlib.metadata.version("govflow")
    except importlib.metadata.PackageNotFoundError:
        return "govflow (source)"


def gap_summary(ledger: Ledger, config: Any, *, version: str | None = None,
                frameworks: Sequence[str] | None = ("eu_ai_act",), plan: int = 6) -> tuple[GapReport, list[str]]:
    """Record a gap report and return it with its summary lines (for `govflow demo`'s gap steps).

    ``config`` is a `GovflowConfig`, a config mapping, or the path of a govflow.yaml.
    """
    from govflow.governance.config import load_config

    if isinstance(config, str | Path):
        config = load_config(config)
    report = record_gap(ledger, config, frameworks=list(frameworks) if frameworks else None, version=version)
    return report, summary_lines(report, plan=plan)
