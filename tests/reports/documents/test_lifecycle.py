"""Documents with a life: written anew on each event, the earlier edition superseded, the current one by name.

On the real credit-scoring scenario (train and gate flows, then two approvals recorded after the gate).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from govflow.cli.main import app
from govflow.governance.ledger.engine import Ledger
from govflow.governance.registry import versions as registry
from govflow.governance.reports.documents import store
from tests.reports.gap.scenario import copy_home, scenario

REF = "credit-scoring:1"


@pytest.fixture
def credit(prefect_harness: None, tmp_path: Path) -> Iterator[Ledger]:
    scenario()
    ledger = Ledger.open(home=copy_home(tmp_path))
    yield ledger
    ledger.close()


def current_card(ledger: Ledger, mv_id: str) -> str:
    with ledger.read() as conn:
        row = store.current(conn, mv_id)["model-card-credit-scoring-v1.md"]
    return ledger.artifacts.read(row["content_hash"]).decode("utf-8")


def test_after_the_approvals_the_current_model_card_shows_them(credit: Ledger, tmp_path: Path) -> None:
    with credit.read() as conn:
        mv_id = registry.resolve(conn, REF).id
    gate_card = current_card(credit, mv_id)
    assert "Human approvals in force:" not in gate_card  # written at the gate, before anyone approved
    names = store.store_documents(credit, mv_id, None, occasion="approval", by="Ravi Patel")
    assert "model-card-credit-scoring-v1.html" in names and "annex-iv-credit-scoring-v1.html" in names
    card = current_card(credit, mv_id)
    assert "Human approvals in force:" in card
    assert "`model_owner`: approved by Dana Meyer" in card and "`risk_officer`: approved by Ravi Patel" in card

    with credit.read() as conn:
        editions = store.history(conn, mv_id)
    cards = [e for e in editions if e.name == "model-card-credit-scoring-v1.md"]
    assert [(e.occasion, e.superseded_by is None) for e in cards] == [("gate", False), ("approval", True)]
    assert cards[0].superseded_by == cards[1].artifact_id  # the ledger says which edition replaced it

    out = tmp_path / "docs"
    result = CliRunner().invoke(app, ["--home", str(credit.home), "docs", REF, "--out", str(out), "--history"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith(f"current documents of {REF} in {out}/: annex-iv.html, annex-iv.md, "
                                                    "datasheet-held-out.html, ")
    written = sorted(p.name for p in out.iterdir())
    assert {"model-card.html", "annex-iv.html", "datasheet-train.html", "datasheet-source.html", "history.json"} <= set(written)
    assert (out / "model-card.md").read_text(encoding="utf-8") == card
    index = json.loads((out / "history.json").read_text(encoding="utf-8"))
    assert index["version"] == REF and {e["readable_name"] for e in index["editions"]} >= {"model-card.html"}
    assert sum(1 for line in result.output.splitlines() if line.endswith(" current")) == len(written) - 1


def test_the_bundle_ships_the_current_editions_and_keeps_the_earlier_apart(credit: Ledger, tmp_path: Path) -> None:
    from govflow.governance.reports.bundle import build_bundle

    with credit.read() as conn:
        mv_id = registry.resolve(conn, REF).id
    store.store_documents(credit, mv_id, None, occasion="approval")
    card = current_card(credit, mv_id)
    target = tmp_path / "audit.zip"
    build_bundle(credit, REF, target)
    with zipfile.ZipFile(target) as archive:
        shipped = archive.read("documents/model-card-credit-scoring-v1.md").decode("utf-8")
        earlier = [n for n in archive.namelist() if n.startswith("documents/earlier/") and "model-card" in n]
    assert shipped == card and "Human approvals in force:" in shipped
    assert earlier  # the gate's edition is history, not the current card


def test_an_unknown_occasion_is_a_programming_error() -> None:
    with pytest.raises(ValueError) as raised:
        store.store_documents(None, "x", None, occasion="whim")  # type: ignore[arg-type]
    assert str(raised.value) == ("unknown document occasion 'whim'; one of: gate, approval, rejection, promotion, "
                                 "incident, evidence, refresh")


@pytest.mark.parametrize(("mitigation", "explained"), [("exponentiated_gradient", True), ("threshold_optimizer", True),
                                                      ("reweighing", False), ("none", False)])
def test_the_model_card_explains_randomised_decisions(tmp_path: Path, mitigation: str, explained: bool) -> None:
    from govflow.governance.reports.documents import render_documents
    from govflow.governance.reports.evidence import gather
    from tests.reports.documents import scenario as recorded

    config = {**recorded.CONFIG, "model": {**recorded.CONFIG["model"], "mitigation": mitigation}}
    ledger = Ledger.open(home=tmp_path / "home")
    try:
        rec = recorded.record_training(ledger, config)
        card = render_documents(gather(ledger, rec.model_version_id, clock=lambda: recorded.GENERATED_AT))[0]
    finally:
        ledger.close()
    text = (f"Randomised decisions: with `{mitigation}` a decision is drawn from the mitigated model's probability "
            "(for some groups, between two thresholds), not read off the score at 0.5.")
    assert (text in card.markdown) is explained
    if explained:
        assert "the score is the probability of the favourable outcome `good`" in card.markdown
        assert ('Every served and logged decision says so: it carries `"randomised": true` beside its label '
                "(`decision`), `favourable` and `score` (with `score_of` `good`)") in card.markdown


def test_govflow_approve_writes_the_documents_anew(credit: Ledger, tmp_path: Path) -> None:
    with credit.read() as conn:
        mv_id = registry.resolve(conn, REF).id
    result = CliRunner().invoke(app, ["--home", str(credit.home), "approve", REF, "--as", "Ravi Patel", "--role",
                                      "risk_officer", "--reason", "re-reviewed after the drift report"])
    assert result.exit_code == 0, result.output
    card = current_card(credit, mv_id)
    assert "`risk_officer`: approved by Ravi Patel" in card and "re-reviewed after the drift report" in card
    with credit.read() as conn:
        latest = [e for e in store.history(conn, mv_id) if e.name == "model-card-credit-scoring-v1.md"][-1]
    assert (latest.occasion, latest.superseded_by) == ("approval", None)
