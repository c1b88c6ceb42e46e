"""The generated compliance documents of a model version: pure rendering from ledger evidence.

``render_documents(gather(ledger, model_version_id))`` gives the model card, one datasheet per data
set version, and the EU AI Act Annex IV technical documentation, each as Markdown and as a
self-contained HTML page, with the list of its gaps. Nothing here reads the ledger or the clock:
the same `Evidence` always renders the same bytes. Storing the documents (as artifacts linked to
the version) is the caller's job.
"""

from __future__ import annotations

from govflow.governance.reports.documents import annex_iv, datasheet, model_card
from govflow.governance.reports.documents.render import DISCLAIMER, Document
from govflow.governance.reports.evidence import Evidence

__all__ = ["DISCLAIMER", "Document", "render_documents"]


def render_documents(evidence: Evidence) -> list[Document]:
    """The model card, a datasheet per data set version, then the Annex IV documentation."""
    names = datasheet.names(evidence)
    sheets = [datasheet.render(evidence, d, names[d.id]) for d in evidence.datasets]
    return [model_card.render(evidence), *sheets, annex_iv.render(evidence)]
