"""Evidently's drift report as a govflow document: titled, headed, stored with its version, findable.

Evidently writes a self-contained HTML page (about 4 MB) with no title of its own. Monitoring keeps
the report of each window whose drift check failed; `store` stores it as a document (artifact kind
``report``, name ``drift-report-...``) linked to the version it judged, titled ``Drift report: SYSTEM:VERSION, WINDOW``
with a govflow header above Evidently's content (system, version, window, rows compared, drifted
columns against the policy's bound, when and by which run it was written, that the ledger holds the
exact figures). The stored name says the same: ``drift-report-credit-scoring-v2-2026-12-01.html``
(``govflow docs`` writes it as ``drift-report-2026-12-01.html``). Being a text document linked to
the version, it ships in the auditor's bundle under ``documents/``.

`latest` gives the most recent report of a system (the dashboard links to it), `for_window` the one
of a version's window (the monitor command names it).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from govflow import canonical as canon
from govflow.checks.results import SuiteResult
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import Artifact, Edge, ModelVersion

KIND = "report"  # the artifact kind Annex IV cites as a test report
MEDIA_TYPE = "text/html"
PREFIX = "drift-report-"
STYLE = ("font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1f2933;background:#f5f7fa;"
         "border-bottom:3px solid #3e4c59;padding:14px 24px;margin:0 0 8px 0")


@dataclass(frozen=True)
class DocumentRef:
    """Where a stored drift report is: its artifact, name, version and window, and its file."""

    artifact_id: str
    name: str  #: the stored name, e.g. drift-report-credit-scoring-v2-2026-12-01.html
    system: str
    version: int
    model_version_id: str
    content_hash: str  #: sha256 of the stored bytes (the file's name in the artifact store)
    created_at: datetime
    path: str  #: the stored file (absolute)

    @property
    def label(self) -> str:
        return f"{self.system}:{self.version}"

    @property
    def readable_name(self) -> str:
        """The name ``govflow docs NAME:VERSION --out DIR`` writes it under."""
        return self.name.replace(f"-{self.system}-v{self.version}", "")

    def to_dict(self) -> dict[str, Any]:
        return {"artifact_id": self.artifact_id, "name": self.name, "version": self.label,
                "model_version_id": self.model_version_id, "sha256": self.content_hash,
                "created_at": canon.format_ts(self.created_at), "path": self.path}


def window_text(start: datetime, end: datetime) -> str:
    """``[start, end)`` for people: whole days as dates (end inclusive), else times in UTC."""
    midnight = all((t.hour, t.minute, t.second, t.microsecond) == (0, 0, 0, 0) for t in (start, end))
    if midnight:
        last = end - timedelta(days=1)
        return f"{start:%Y-%m-%d}" if last <= start else f"{start:%Y-%m-%d}..{last:%Y-%m-%d}"
    return f"{start:%Y-%m-%d %H:%M}..{end:%Y-%m-%d %H:%M} UTC"


def report_name(system: str, version: int, start: datetime) -> str:
    stamp = f"{start:%Y-%m-%d}" if (start.hour, start.minute) == (0, 0) else f"{start:%Y-%m-%dT%H%M}"
    return f"{PREFIX}{system}-v{version}-{stamp}.html"


def title(system: str, version: int, start: datetime, end: datetime) -> str:
    return f"Drift report: {system}:{version}, {window_text(start, end)}"


def _figure(summary: dict[str, Any], key: str) -> str:
    value = summary.get(key)
    return "—" if value is None else f"{value:.3g}" if isinstance(value, float) else str(value)


def header(system: str, version: int, start: datetime, end: datetime, summary: dict[str, Any], run_id: str | None) -> str:
    """govflow's header above Evidently's content."""
    drifted = summary.get("drifted_share")
    bound = summary.get("drifted_column_share_max") or summary.get("threshold")
    share = "—" if drifted is None else f"{drifted:.3g}" + (f" (bound ≤ {bound:.3g})" if isinstance(bound, int | float) else "")
    facts = [("System", system), ("Version", f"{system}:{version}"), ("Window", window_text(start, end)),
             ("Rows compared", f"reference {_figure(summary, 'reference_rows')}, window {_figure(summary, 'current_rows')}"),
             ("Drifted columns", f"{_figure(summary, 'drifted_count')} of {_figure(summary, 'columns')}, share {share}"),
             ("Written by", f"govflow monitoring run {run_id or '—'}")]
    cells = "".join(f"<div><b>{html.escape(k)}</b>: {html.escape(v)}</div>" for k, v in facts)
    return (f'<header id="govflow-header" style="{STYLE}"><div style="font-size:12px;letter-spacing:.08em;'
            f'text-transform:uppercase;color:#52606d">govflow drift report</div>'
            f'<h1 style="font-size:20px;margin:4px 0 8px 0">{html.escape(title(system, version, start, end))}</h1>'
            f'<div style="display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:2px 18px">{cells}</div>'
            '<div style="margin-top:6px;color:#52606d">Below: Evidently\'s report of this window against the version\'s '
            'training reference. The ledger holds the exact figures (govflow trace model).</div></header>')


def titled(report: str, system: str, version: int, start: datetime, end: datetime, summary: dict[str, Any],
           run_id: str | None = None) -> str:
    """Evidently's page with a ``<title>`` and govflow's header (it has neither)."""
    head = report.find("<head>")
    page = (report[:head + 6] + f"\n<title>{html.escape(title(system, version, start, end))}</title>" + report[head + 6:]
            if head >= 0 else f"<title>{html.escape(title(system, version, start, end))}</title>" + report)
    body = page.find("<body")
    if body < 0:
        return header(system, version, start, end, summary, run_id) + page
    opened = page.index(">", body) + 1
    return page[:opened] + header(system, version, start, end, summary, run_id) + page[opened:]


def store(ledger: Ledger, *, report: bytes, model_version_id: str, start: datetime, end: datetime,
          summary: dict[str, Any], run_id: str | None) -> DocumentRef:
    """Store a window's report as a document of the version (the run's output, role ``document NAME``)."""
    from govflow.governance.ledger.runs import add_artifact

    with ledger.read() as conn:
        system, version = conn.execute(select(ModelVersion.system, ModelVersion.version)
                                       .where(ModelVersion.id == model_version_id)).one()
    name = report_name(system, version, start)
    page = titled(report.decode("utf-8"), system, version, start, end, summary, run_id).encode("utf-8")
    with ledger.write("monitoring.report", model_version_id) as w:
        row = add_artifact(w, ledger.artifacts, kind=KIND, name=name, data=page, media_type=MEDIA_TYPE,
                           run_id=run_id, model_version_id=model_version_id)
        if run_id is not None:
            w.add(Edge, run_id=run_id, direction="output", role=f"document {name}", entity_kind="artifact",
                  entity_id=row["id"], fingerprint=f"sha256:{row['content_hash']}")
    return DocumentRef(artifact_id=row["id"], name=name, system=system, version=int(version),
                       model_version_id=model_version_id, content_hash=row["content_hash"], created_at=row["created_at"],
                       path=str(ledger.artifacts.path(row["content_hash"]).resolve()))


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def store_suite(ledger: Ledger, suite: SuiteResult, model_version_id: str, run_id: str | None) -> DocumentRef | None:
    """`store` the report a drift suite carries (tagged with its window by monitoring); None when it has none."""
    report = suite.attachment("report")
    window = suite.summary.get("window") or {}
    if report is None or not window.get("start"):
        return None
    bound = next((r.threshold for r in suite.results if r.name == "drifted_column_share"), None)
    return store(ledger, report=report.content, model_version_id=model_version_id, start=_moment(window["start"]),
                 end=_moment(window["end"]), summary={**suite.summary, "drifted_column_share_max": bound},
                 run_id=run_id)


def _refs(ledger: Ledger, conn: Connection, *where: Any, limit: int | None = None) -> list[DocumentRef]:
    query = (select(Artifact.id, Artifact.name, Artifact.content_hash, Artifact.created_at, Artifact.model_version_id,
                    ModelVersion.system, ModelVersion.version)
             .join(ModelVersion, ModelVersion.id == Artifact.model_version_id)
             .where(Artifact.kind == KIND, Artifact.name.startswith(PREFIX), *where).order_by(Artifact.audit_seq.desc(), Artifact.id.desc()).limit(limit))
    return [DocumentRef(artifact_id=r.id, name=r.name, system=r.system, version=int(r.version),
                        model_version_id=r.model_version_id, content_hash=r.content_hash, created_at=r.created_at,
                        path=str(ledger.artifacts.path(r.content_hash).resolve())) for r in conn.execute(query)]


def for_window(ledger: Ledger, model_version_id: str, start: datetime) -> DocumentRef | None:
    """The latest stored report of a version's window starting at ``start`` (None: none was written)."""
    with ledger.read() as conn:
        system, version = conn.execute(select(ModelVersion.system, ModelVersion.version)
                                       .where(ModelVersion.id == model_version_id)).one()
        found = _refs(ledger, conn, Artifact.model_version_id == model_version_id,
                      Artifact.name == report_name(system, version, start), limit=1)
    return found[0] if found else None


def latest(ledger: Ledger, system: str) -> DocumentRef | None:
    """The most recently stored drift report of ``system``, any version (None: monitoring never kept one)."""
    with ledger.read() as conn:
        found = _refs(ledger, conn, ModelVersion.system == system, limit=1)
    return found[0] if found else None
