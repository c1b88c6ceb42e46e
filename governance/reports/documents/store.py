"""A version's documents through their life: rendered from the ledger, stored, superseded, read by name.

Every event that changes what a document says (the gate, an approval or rejection, a promotion, an
incident, evidence attached) calls `store_documents`: it renders every document of the version from
the ledger as it is now and stores each as a hashed artifact linked to the version, in one transaction
that also records *why* (the ``occasion``) and which earlier edition each new one supersedes:

- the writing run (the gate's task run, else a ``command`` run ``documents.<occasion>`` with who and
  why in its parameters) gets an output edge per document (role ``document NAME``) and an input edge
  per superseded edition (role ``supersedes NAME``, the earlier artifact's id). Edges are append-only
  and hash-chained like every row: an edition is superseded when such an edge names it.
- the *current* edition of a name is the latest stored for the version (`current`); `history` lists
  every edition with the occasion that wrote it and the one that superseded it.

`readable_name` strips the system and version from a stored name (``model-card-credit-scoring-v2.html``
-> ``model-card.html``): ``govflow docs NAME:VERSION --out DIR`` writes the current editions so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from govflow import canonical as canon
from govflow.errors import DataError
from govflow.governance.ledger.engine import Ledger, Writer
from govflow.governance.ledger.schema import Artifact, Edge, ModelVersion, Run, RunState
from govflow.governance.reports.documents import render_documents
from govflow.governance.reports.evidence import gather

# report: Evidently's drift report of a window monitoring alerted on, stored by `drift_report.store` (not re-rendered here)
DOCUMENT_KINDS = ("model_card", "datasheet", "annex_iv", "report")
OCCASIONS = ("gate", "approval", "rejection", "promotion", "incident", "evidence", "refresh")
UNKNOWN_OCCASION = "unknown document occasion '{occasion}'; one of: {known}"


@dataclass(frozen=True)
class Edition:
    """One stored edition of a document."""

    artifact_id: str
    name: str  #: the stored name, e.g. model-card-credit-scoring-v2.html
    kind: str
    content_hash: str
    created_at: datetime
    written_by_run: str | None
    occasion: str  #: why it was written (gate, approval, ...)
    superseded_by: str | None  #: the artifact id of the edition that replaced it (None: current)

    def to_dict(self) -> dict[str, Any]:
        return {"artifact_id": self.artifact_id, "name": self.name, "kind": self.kind, "sha256": self.content_hash, "created_at": canon.format_ts(self.created_at),
                "run_id": self.written_by_run, "occasion": self.occasion, "superseded_by": self.superseded_by}


def readable_name(name: str, system: str, version: int) -> str:
    """``model-card-credit-scoring-v2.html`` -> ``model-card.html``; names without the label stay as they are."""
    return name.replace(f"-{system}-v{version}", "")


def _documents(conn: Connection, model_version_id: str) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(
        select(Artifact).where(Artifact.model_version_id == model_version_id, Artifact.kind.in_(DOCUMENT_KINDS))
        .order_by(Artifact.audit_seq, Artifact.name)).mappings()]


def current(conn: Connection, model_version_id: str) -> dict[str, dict[str, Any]]:
    """The latest stored edition of each document of the version, by stored name."""
    return {row["name"]: row for row in _documents(conn, model_version_id)}


def _command_run(w: Writer, occasion: str, model_version_id: str, by: str | None) -> str:
    from govflow.governance.ledger.ids import new_id
    from govflow.governance.ledger.runs import to_json
    from govflow.governance.registry.versions import os_user

    run_id = new_id()
    now = canon.utc_now()
    w.add(Run, id=run_id, kind="command", name=f"documents.{occasion}", started_at=now, env_json="{}",
          params_json=to_json({"occasion": occasion, "model_version_id": model_version_id, "by": by or os_user()}))
    w.add(RunState, run_id=run_id, state="running", at=now)
    return run_id


def store_documents(ledger: Ledger, model_version_id: str, run_id: str | None, *, occasion: str = "gate",
                    by: str | None = None) -> list[str]:
    """Render every document of the version from the ledger as it is now; store them, superseding the earlier.

    Returns the stored names (Markdown and HTML of each document).
    """
    from govflow.governance.ledger.runs import add_artifact

    if occasion not in OCCASIONS:
        raise ValueError(UNKNOWN_OCCASION.format(occasion=occasion, known=", ".join(OCCASIONS)))
    documents = render_documents(gather(ledger, model_version_id))
    names = []
    with ledger.write(f"documents.{occasion}", model_version_id) as w:
        before = current(w.conn, model_version_id)
        writer_run = run_id or _command_run(w, occasion, model_version_id, by)
        for doc in documents:
            for suffix, media, text in ((".md", "text/markdown", doc.markdown), (".html", "text/html", doc.html)):
                name = doc.name.removesuffix(".md") + suffix
                row = add_artifact(w, ledger.artifacts, kind=doc.kind, name=name, data=text.encode("utf-8"),
                                   media_type=media, run_id=writer_run, model_version_id=model_version_id)
                w.add(Edge, run_id=writer_run, direction="output", role=f"document {name}", entity_kind="artifact",
                      entity_id=row["id"], fingerprint=f"sha256:{row['content_hash']}")
                old = before.get(name)
                if old is not None:
                    w.add(Edge, run_id=writer_run, direction="input", role=f"supersedes {name}", entity_kind="artifact",
                          entity_id=old["id"], fingerprint=f"sha256:{old['content_hash']}")
                names.append(name)
        if run_id is None:
            w.add(RunState, run_id=writer_run, state="completed", at=canon.utc_now())
    return names


def _occasion(conn: Connection, run_ids: set[str]) -> dict[str, str]:
    """Why each run wrote documents: ``documents.OCCASION`` commands say it; a flow's task, its flow (gate, incident)."""
    rows = conn.execute(select(Run.id, Run.name, Run.root_run_id).where(Run.id.in_(sorted(run_ids)))).all()
    roots = {r[2] for r in rows if r[2]}
    names = dict(conn.execute(select(Run.id, Run.name).where(Run.id.in_(sorted(roots)))).all()) if roots else {}
    return {run_id: name.removeprefix("documents.") if name.startswith("documents.") else names.get(root or "", name)
            for run_id, name, root in rows}


def history(conn: Connection, model_version_id: str) -> list[Edition]:
    """Every stored edition of the version's documents, oldest first, with what superseded it."""
    rows = _documents(conn, model_version_id)
    ids = [r["id"] for r in rows]
    superseded: dict[str, str] = {}
    if ids:
        edges = conn.execute(select(Edge.run_id, Edge.entity_id, Edge.role).where(
            Edge.entity_kind == "artifact", Edge.entity_id.in_(ids), Edge.role.startswith("supersedes "))).all()
        later = {(r["produced_by_run_id"], r["name"]): r["id"] for r in rows}
        for run_id, old_id, role in edges:
            superseded[str(old_id)] = later.get((run_id, role.removeprefix("supersedes ")), run_id)
    occasions = _occasion(conn, {r["produced_by_run_id"] for r in rows if r["produced_by_run_id"]})
    return [Edition(artifact_id=r["id"], name=r["name"], kind=r["kind"], content_hash=r["content_hash"],
                    created_at=r["created_at"], written_by_run=r["produced_by_run_id"],
                    occasion=occasions.get(r["produced_by_run_id"] or "", "unrecorded"),
                    superseded_by=superseded.get(r["id"])) for r in rows]


def write_current(ledger: Ledger, model_version_id: str, out: Path) -> list[Path]:
    """Write the current edition of each document under its readable name, and ``history.json``, into ``out``."""
    import json

    with ledger.read() as conn:
        system, number = conn.execute(select(ModelVersion.system, ModelVersion.version)
                                      .where(ModelVersion.id == model_version_id)).one()
        latest = current(conn, model_version_id)
        editions = history(conn, model_version_id)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, row in sorted(latest.items()):
        problem = ledger.artifacts.problem(row["content_hash"])
        if problem:
            raise DataError(f"the stored {name} of {system}:{number} cannot be read ({problem}); run `govflow verify`")
        target = out / readable_name(name, system, number)
        target.write_bytes(ledger.artifacts.read(row["content_hash"]))
        written.append(target)
    index = [{**e.to_dict(), "readable_name": readable_name(e.name, system, number)} for e in editions]
    (out / "history.json").write_text(json.dumps({"version": f"{system}:{number}", "editions": index}, indent=1),
                                      encoding="utf-8")
    return [*written, out / "history.json"]
