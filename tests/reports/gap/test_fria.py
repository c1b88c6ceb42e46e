"""The fundamental rights impact assessment: a structured template; its filled form recorded as evidence."""

from __future__ import annotations

import pytest
import yaml
from sqlalchemy import select

from govflow.errors import InputError
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import Artifact
from govflow.governance.registry import versions as registry
from govflow.governance.reports import gap_evidence
from govflow.governance.reports.documents.store import history


@pytest.fixture
def loans(ledger: Ledger) -> Ledger:
    registry.register_version(ledger, system="loans", model_data=b"model" + bytes(8), fingerprint="fp1:" + "0" * 64,
                              training_run_id=None, hyperparams={}, config_snapshot={"system": {"name": "loans"}},
                              attachments=[], by="tests")
    return ledger


def filled(**overrides: str) -> bytes:
    form = yaml.safe_load(gap_evidence.template_text("fria"))
    answers = {key: f"answer to {key}" for key in form if key != "kind"}
    return yaml.safe_dump({**form, **answers, **overrides}).encode("utf-8")


def test_the_template_asks_each_art_27_question_with_its_citation() -> None:
    text = gap_evidence.template_text("fria")
    assert text.splitlines()[0] == "# Fundamental rights impact assessment (Art. 27), before first use"
    assert "# The categories of natural persons and groups likely to be affected in this context (Art. 27(1)(c))\n" \
           "affected_persons: ANSWER HERE\n" in text
    form = yaml.safe_load(text)
    assert form["kind"] == "fria" and len(form) == 10
    with pytest.raises(InputError) as none:
        gap_evidence.template_text("risk_register")
    assert str(none.value) == "evidence kind 'risk_register' has no template; the kinds with one: fria"


def test_a_filled_fria_is_recorded_and_the_documents_are_written_anew(loans: Ledger) -> None:
    row = gap_evidence.attach_evidence(loans, "loans:1", kind="fria", name="fria.yaml", data=filled(),
                                       media_type="application/yaml", by="Ravi Patel")
    assert row["version"] == "loans:1" and row["kind"] == "fria"
    with loans.read() as conn:
        kinds = list(conn.execute(select(Artifact.kind).where(Artifact.model_version_id == row["model_version_id"])
                                  .order_by(Artifact.audit_seq)).scalars())
        editions = history(conn, row["model_version_id"])
    assert kinds[0] == "fria" and "annex_iv" in kinds  # evidence attached rewrites what the documents say
    assert {e.occasion for e in editions} == {"evidence"}


@pytest.mark.parametrize(("data", "message"), [
    (b"kind: fria\ndeployer: [unclosed\n", "fria.yaml: not a fria form (YAML expected: start from `govflow evidence "
                                           "template fria`): "),
    (b"kind: risk_register\n", "fria.yaml: not a fria form (its `kind:` line is missing or different); start from "
                               "`govflow evidence template fria`"),
])
def test_what_is_not_a_fria_form_is_refused(loans: Ledger, data: bytes, message: str) -> None:
    with pytest.raises(InputError) as refused:
        gap_evidence.attach_evidence(loans, "loans:1", kind="fria", name="fria.yaml", data=data, media_type="x")
    assert str(refused.value).startswith(message)


def test_an_unanswered_question_is_refused_by_name(loans: Ledger) -> None:
    with pytest.raises(InputError) as refused:
        gap_evidence.attach_evidence(loans, "loans:1", kind="fria", name="fria.yaml", media_type="x",
                                     data=filled(risks_of_harm="ANSWER HERE", authority_notified=""))
    assert str(refused.value) == ("fria.yaml: unanswered in the fria form: risks_of_harm, authority_notified; answer "
                                  "each question (a person's words, not the placeholder) before attaching it")
