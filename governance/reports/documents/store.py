"""Storing a version's documents: rendered from the ledger, kept as hashed artifacts linked to it."""

from __future__ import annotations

from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.runs import add_artifact
from govflow.governance.reports.documents import render_documents
from govflow.governance.reports.evidence import gather


def store_documents(ledger: Ledger, model_version_id: str, run_id: str | None, *, occasion: str = "gate") -> list[str]:
    """Render every document of the version from the ledger as it is now and store them (Markdown + HTML).

    Called by the gate, and again after a promotion so the stored copies show the approvals too;
    the latest copy of each kind is the current one, earlier copies stay in the record.
    """
    documents = render_documents(gather(ledger, model_version_id))
    names = []
    with ledger.write(f"documents.{occasion}", model_version_id) as w:
        for doc in documents:
            for suffix, media, text in ((".md", "text/markdown", doc.markdown), (".html", "text/html", doc.html)):
                name = doc.name.removesuffix(".md") + suffix
                add_artifact(w, ledger.artifacts, kind=doc.kind, name=name, data=text.encode("utf-8"),
                             media_type=media, run_id=run_id, model_version_id=model_version_id)
                names.append(name)
    return names
