"""Evidence people write: the kinds the catalogues define, structured templates, attaching a document.

The kinds are data: each catalogue's ``evidence_kinds:`` (`govflow.governance.reports.gap.load_catalogues`).
A kind with a ``template:`` (the fundamental rights impact assessment, ``fria``) has a structured form:
`template_text` writes it as YAML with each question and its citation as comments, and `attach_evidence`
refuses a filled form with an unanswered question, so what is recorded is the complete assessment.
Attaching records a ``command`` run ``evidence.attach`` and then writes the version's documents anew
(Annex IV lists the evidence), so the current documents always say what is attached.
"""

from __future__ import annotations

from typing import Any

import yaml

from govflow import canonical as canon
from govflow.errors import InputError
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import Edge, Run, RunState
from govflow.governance.registry.versions import resolve
from govflow.governance.reports.gap import load_catalogues
from govflow.governance.reports.gap_types import EvidenceKind

UNKNOWN_KIND = "unknown evidence kind '{kind}'; choose one of: {kinds}"
NO_TEMPLATE = "evidence kind '{kind}' has no template; the kinds with one: {kinds}"
PLACEHOLDER = "ANSWER HERE"


def evidence_kinds() -> dict[str, EvidenceKind]:
    """Every kind people attach, from every catalogue, in catalogue order."""
    return {k.kind: k for f in load_catalogues() for k in f.evidence_kinds}


def evidence_kind(kind: str) -> EvidenceKind:
    known = evidence_kinds()
    if kind not in known:
        raise InputError(UNKNOWN_KIND.format(kind=kind, kinds=", ".join(known)))
    return known[kind]


def template_text(kind: str) -> str:
    """The structured form of ``kind`` as YAML: one key per question, the question and citation above it."""
    found = evidence_kind(kind)
    if not found.template:
        with_one = [k.kind for k in evidence_kinds().values() if k.template]
        raise InputError(NO_TEMPLATE.format(kind=kind, kinds=", ".join(with_one)))
    lines = [f"# {found.title}", f"# ({found.framework}; govflow cites the text, it does not give legal advice.)",
             f"# Answer every question in place of {PLACEHOLDER}, then record it:",
             f"#   govflow evidence attach NAME:VERSION THIS_FILE --kind {kind}", f"kind: {kind}", ""]
    for q in found.template:
        lines += [f"# {q['question']} ({q['citation']})", f"{q['key']}: {PLACEHOLDER}", ""]
    return "\n".join(lines)


def check_form(kind: EvidenceKind, name: str, data: bytes) -> None:
    """A filled structured form: YAML, of this kind, every question answered."""
    try:
        form = yaml.safe_load(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as e:
        raise InputError(f"{name}: not a {kind.kind} form (YAML expected: start from `govflow evidence template "
                         f"{kind.kind}`): {str(e).splitlines()[0]}") from None
    if not isinstance(form, dict) or form.get("kind") != kind.kind:
        raise InputError(f"{name}: not a {kind.kind} form (its `kind:` line is missing or different); start from "
                         f"`govflow evidence template {kind.kind}`")
    unanswered = [q["key"] for q in kind.template if not _answered(form.get(q["key"]))]
    if unanswered:
        raise InputError(f"{name}: unanswered in the {kind.kind} form: {', '.join(unanswered)}; answer each question "
                         "(a person's words, not the placeholder) before attaching it")


def _answered(value: Any) -> bool:
    text = "" if value is None else str(value).strip()
    return bool(text) and PLACEHOLDER not in text


def attach_evidence(ledger: Ledger, ref: str, *, kind: str, name: str, data: bytes, media_type: str,
                    by: str | None = None) -> dict[str, Any]:
    """Record a document people wrote (a plan, a register, an assessment) as evidence for a version.

    Only the kinds the catalogues define are taken, so a typo cannot file evidence nobody will find.
    """
    from govflow.governance.ledger.ids import new_id
    from govflow.governance.ledger.runs import add_artifact, to_json
    from govflow.governance.registry.versions import os_user
    from govflow.governance.reports.documents.store import store_documents

    found = evidence_kind(kind)
    if not data.strip():
        raise InputError(f"{name} is empty: attach the document itself")
    if found.template:
        check_form(found, name, data)
    now = canon.utc_now()
    with ledger.write("evidence.attached", f"{ref} {kind}") as w:
        version = resolve(w.conn, ref)
        run_id = new_id()
        w.add(Run, id=run_id, kind="command", name="evidence.attach", started_at=now, env_json="{}",
              params_json=to_json({"version": str(version), "kind": kind, "name": name, "by": by or os_user()}))
        w.add(RunState, run_id=run_id, state="running", at=now)
        row = add_artifact(w, ledger.artifacts, kind=kind, name=name, data=data, media_type=media_type,
                           run_id=run_id, model_version_id=version.id)
        w.add(Edge, run_id=run_id, direction="output", role="document", entity_kind="artifact", entity_id=row["id"],
              fingerprint=f"sha256:{row['content_hash']}")
        w.add(RunState, run_id=run_id, state="completed", at=canon.utc_now())
    store_documents(ledger, version.id, None, occasion="evidence", by=by)
    return {"version": str(version), **row}
