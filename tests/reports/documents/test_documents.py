"""The generated documents: golden files, gaps instead of invented content, self-contained HTML."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from govflow.governance.ledger.engine import Ledger
from govflow.governance.reports.documents import DISCLAIMER, Document, render_documents
from govflow.governance.reports.evidence import ChainHead, Evidence, VersionFacts, gather
from tests.reports.documents import golden, scenario

NAMES = [
    "model-card-credit-scoring-v1.md",
    "datasheet-credit-scoring-v1-source.md",
    "datasheet-credit-scoring-v1-train.md",
    "datasheet-credit-scoring-v1-held-out.md",
    "annex-iv-credit-scoring-v1.md",
]


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Ledger]:
    ledger = Ledger.open(home=tmp_path / "home")
    yield ledger
    ledger.close()


def render(ledger: Ledger, rec: scenario.Recorded) -> dict[str, Document]:
    evidence = gather(ledger, rec.model_version_id, clock=lambda: scenario.GENERATED_AT)
    return {d.name: d for d in render_documents(evidence)}


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Document]]:
    """Every document of the full scenario (trained, gated, one approval, one rejection), on SQLite."""
    ledger = Ledger.open(home=tmp_path_factory.mktemp("documents") / "home")
    yield render(ledger, scenario.full(ledger))
    ledger.close()


def test_render_documents_gives_the_model_card_datasheets_and_annex_iv(documents: dict[str, Document]) -> None:
    assert list(documents) == NAMES
    assert [d.kind for d in documents.values()] == ["model_card", "datasheet", "datasheet", "datasheet", "annex_iv"]


@pytest.mark.parametrize("name", NAMES)
def test_markdown_matches_golden(documents: dict[str, Document], name: str) -> None:
    golden.compare(name, documents[name].markdown)


@pytest.mark.parametrize("name", NAMES)
def test_html_matches_golden(documents: dict[str, Document], name: str) -> None:
    golden.compare(documents[name].html_name, documents[name].html)


def test_postgres_renders_the_same_documents(pg_ledger: Ledger, documents: dict[str, Document]) -> None:
    on_pg = render(pg_ledger, scenario.full(pg_ledger))
    assert list(on_pg) == list(documents)
    for name, doc in on_pg.items():
        assert golden.normalise(doc.markdown) == golden.normalise(documents[name].markdown), name
        assert golden.normalise(doc.html) == golden.normalise(documents[name].html), name


def test_every_document_carries_disclaimer_version_and_chain_head(fresh: Ledger) -> None:
    rec = scenario.full(fresh)
    seq, head = fresh.head()
    for doc in render(fresh, rec).values():
        assert DISCLAIMER in doc.markdown
        assert "not legal advice" in doc.html
        assert f"`model_versions/{rec.model_version_id}`" in doc.markdown
        assert f"seq {seq}, `{head}`" in doc.markdown
        assert "`2026-03-02T12:00:00.000000Z`" in doc.markdown


def test_same_evidence_renders_the_same_bytes(fresh: Ledger) -> None:
    rec = scenario.full(fresh)
    first, second = render(fresh, rec), render(fresh, rec)
    assert [(d.markdown, d.html) for d in first.values()] == [(d.markdown, d.html) for d in second.values()]


def test_html_is_self_contained(documents: dict[str, Document]) -> None:
    for doc in documents.values():
        assert doc.html.startswith("<!DOCTYPE html>")
        assert "<style>" in doc.html
        assert not re.search(r"<(script|link|img|iframe|object)\b|\bsrc=|@import|url\(|<a\b", doc.html), doc.name
        assert "default-src 'none'" in doc.html


def test_recorded_text_cannot_become_markup(documents: dict[str, Document]) -> None:
    card = documents["model-card-credit-scoring-v1.md"]
    # The rejection's rationale holds "<retrain>", "*mitigation*", "|" and a Markdown link.
    assert "&lt;retrain&gt; with *mitigation* | see [report](http://x.example)" in card.html
    assert "<em>mitigation</em>" not in card.html


def test_missing_approvals_and_fairness_are_gaps_not_content(fresh: Ledger) -> None:
    rec = scenario.record_training(fresh)
    scenario.record_gate(fresh, rec, fairness=False)
    docs = render(fresh, rec)
    card, annex = docs["model-card-credit-scoring-v1.md"], docs["annex-iv-credit-scoring-v1.md"]

    assert "> **GAP** no evidence recorded for fairness results of this version." in card.markdown
    assert "> **GAP** no evidence recorded for an approval by the role `model_owner`." in card.markdown
    assert "> **GAP** no evidence recorded for an approval by the role `risk_officer`." in card.markdown
    assert "| **Groups evaluated** | *Not recorded* |" in card.markdown
    for invented in ("approved by", "rejected by", "by group", "Fairness finding", "Human approvals in force"):
        assert invented not in card.markdown

    for gap in ("Annex IV 2(e): an approval by the role model_owner",
                "Annex IV 2(e): an approval by the role risk_officer",
                "Annex IV 2(g): a dated sign-off of the test results by a responsible person",
                "Annex IV 3: results per group of persons",
                "Annex IV 3: a fairness (discrimination) assessment of this version"):
        assert gap in annex.gaps
    assert "> **GAP** no evidence recorded for results per group of persons (Annex IV 3)." in annex.markdown
    assert "Signed off by" not in annex.markdown
    assert "<blockquote>\n<p><strong class=\"badge badge-warn\">GAP</strong> no evidence recorded for an approval by " \
           "the role <code>model_owner</code>" in annex.html
    # The gap list at the end repeats every gap, numbered.
    assert annex.markdown.split("## Gaps\n\n", 1)[1].count("\n") == len(annex.gaps)


def test_per_group_metrics_not_stored_are_a_gap(fresh: Ledger) -> None:
    rec = scenario.record_training(fresh)
    scenario.record_gate(fresh, rec, group_table=False)
    docs = render(fresh, rec)
    card, annex = docs["model-card-credit-scoring-v1.md"], docs["annex-iv-credit-scoring-v1.md"]
    # The group sizes the fairness results hold are shown; the rates they do not hold are a gap.
    assert "| `male : single, widowed` | 14 | **TOO SMALL TO JUDGE** |" in card.markdown
    assert "> **GAP** no evidence recorded for the selection rate, TPR and FPR of each group." in card.markdown
    assert "Selection rate" not in card.markdown
    assert "Annex IV 3: the selection rate, TPR and FPR of each group" in annex.gaps


def test_an_ungated_version_shows_the_gate_as_missing(fresh: Ledger) -> None:
    rec = scenario.record_training(fresh)
    docs = render(fresh, rec)
    card, annex = docs["model-card-credit-scoring-v1.md"], docs["annex-iv-credit-scoring-v1.md"]
    assert "no evidence recorded for a gate decision on this version" in card.markdown
    # Performance falls back to what the training run measured, and says so.
    assert "As recorded by the training run" in card.markdown
    assert "Annex IV 2(g): test results of this version" in annex.gaps
    assert "Annex IV 5: testing against the policy's thresholds (a gate decision)" in annex.gaps


def test_every_annex_iv_section_is_present(documents: dict[str, Document]) -> None:
    annex = documents["annex-iv-credit-scoring-v1.md"].markdown
    headings = re.findall(r"^## (\d)\. .* \(Annex IV point (\d)\)$", annex, flags=re.M)
    assert headings == [(str(n), str(n)) for n in range(1, 10)]
    for key in ("1(a)", "1(h)", "2(a)", "2(h)"):
        assert f"### {key} " in annex


def test_datasheets_show_what_is_not_recorded(documents: dict[str, Document]) -> None:
    held_out = documents["datasheet-credit-scoring-v1-held-out.md"]
    assert "| **Location** | *Not recorded* |" in held_out.markdown  # an in-memory split has no file
    assert "| **Licence and terms of use** | *Not recorded* |" in held_out.markdown
    assert "Distribution: Licence and terms of use" in held_out.gaps
    assert "| **Rows** | 300 |" in held_out.markdown
    assert "| `personal_status_and_sex` | `object` | sensitive attribute, kept out of the model |" in held_out.markdown
    source = documents["datasheet-credit-scoring-v1-source.md"]
    assert "`file:///srv/credit-scoring/german_credit.csv`" in source.markdown
    assert "Statlog (German Credit Data), Hofmann (1994)" in source.markdown


def test_direct_evidence_with_nothing_but_a_version_renders_gaps() -> None:
    """Evidence built by hand: a version with no runs, data, checks or approvals."""
    at = scenario.T0
    evidence = Evidence(
        version=VersionFacts(id="v-1", system="tiny", version=3, fingerprint="fp1:" + "0" * 64, artifact_hash="1" * 64,
                             artifact_uri="artifacts/x", training_run_id=None, hyperparams={}, config_hash="2" * 64,
                             created_at=at),
        config={"system": {"name": "tiny", "intended_purpose": "Rank support tickets by urgency"}},
        training_run=None, gate_run=None, datasets=(), checks=(), decisions=(), approvals=(), stages=(),
        required_roles=("model_owner", "risk_officer"), artifacts=(), versions=(), chain_head=ChainHead(1, "3" * 64),
        ledger_id="ledger-x", generated_at=at,
    )
    docs = render_documents(evidence)
    assert [d.name for d in docs] == ["model-card-tiny-v3.md", "annex-iv-tiny-v3.md"]
    card, annex = docs
    assert "| **Primary intended use** | Rank support tickets by urgency |" in card.markdown
    assert "| **Provider** | *Not recorded* |" in card.markdown
    assert "Annex IV 1(a): the provider's name" in annex.gaps
    assert "Annex IV 2(a): the training run of this version" in annex.gaps
    assert "Annex IV 2(d): the data sets used" in annex.gaps
    assert len(annex.gaps) > 20
    # A provider recorded later fills the item and removes the gap.
    filled = replace(evidence, config={"system": {**evidence.config["system"], "provider": "Acme"}})
    assert "Annex IV 1(a): the provider's name" not in render_documents(filled)[-1].gaps
