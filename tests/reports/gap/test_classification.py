"""Risk classification from the intended purpose and the declared Annex III point."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import Artifact, CheckResultRow, Run
from govflow.governance.ledger.verify import verify
from govflow.governance.reports.classification import UNDECLARED, classify, record_classification

CREDIT = "Assess the creditworthiness of natural persons applying for consumer credit"


@pytest.mark.parametrize(("purpose", "declared", "high_risk", "basis", "consistent", "matched"), [
    (CREDIT, "5(b)", True, "declared", True, ["5(b)"]),
    (CREDIT, "5", True, "declared", True, ["5(b)"]),  # the area agrees with its point
    ("Rank job applicants and filter CVs before interviews", "4(a)", True, "declared", True, ["4(a)"]),
    ("Rank job applicants and filter CVs before interviews", None, True, "presumed", False, ["4(a)"]),
    (CREDIT, None, True, "presumed", False, ["5(b)"]),
    (CREDIT, "4(a)", True, "declared", False, ["5(b)"]),
    ("Recommend films to subscribers", None, False, "none", True, []),
    ("Recommend films to subscribers", "5(b)", True, "declared", True, []),  # declared: high-risk, with a warning
    ("Detect fraud in consumer credit applications", None, False, "none", True, []),  # 5(b) excepts fraud detection
])
def test_classification(purpose: str, declared: str | None, high_risk: bool, basis: str, consistent: bool,
                        matched: list[str]) -> None:
    c = classify("s", purpose, declared)
    assert (c.high_risk, c.basis, c.consistent, [m.point for m in c.matched]) == (high_risk, basis, consistent, matched)
    assert c.reasoning[0] == f'Intended purpose: "{purpose}".'


def test_a_recruitment_purpose_declared_not_high_risk_is_a_critical_finding() -> None:
    c = classify("cv-screener", "Rank job applicants for interviews", None)
    assert [(f.severity, f.message) for f in c.findings] == [("critical", UNDECLARED.format(
        points="4(a) (recruitment or selection of natural persons (filtering applications, evaluating candidates))"))]
    assert c.label == "high-risk (Annex III 4(a), presumed)"
    assert "matched job applicants" in c.reasoning[1]


def test_a_declaration_the_purpose_does_not_support_is_a_warning() -> None:
    c = classify("films", "Recommend films to subscribers", "5(b)")
    assert [f.severity for f in c.findings] == ["warning"]
    assert c.findings[0].message.startswith("declared Annex III 5(b), but no word of the intended purpose points to it")


def test_another_point_than_the_purpose_reads_as_is_a_high_finding() -> None:
    c = classify("credit", CREDIT, "4(a)")
    assert [f.severity for f in c.findings] == ["high"]
    assert c.findings[0].message.startswith("declared Annex III 4(a), but the intended purpose reads as 5(b)")


def test_a_declared_point_that_does_not_exist_is_a_critical_finding() -> None:
    c = classify("credit", CREDIT, "9(z)")
    assert c.findings[0].severity == "critical"
    assert c.findings[0].message == "system.annex_iii is '9(z)', which is not an Annex III point: write e.g. \"5(b)\", or null"
    assert c.basis == "presumed"  # treated as undeclared; the purpose still reads as 5(b)


def test_the_classification_is_recorded_with_its_reasoning(sqlite_ledger: Ledger) -> None:
    from govflow import canonical as canon

    c = classify("cv-screener", "Rank job applicants for interviews", None)
    with sqlite_ledger.write("test.classify", "cv-screener") as w:
        run = w.add(Run, kind="command", name="gap", params_json="{}", env_json="{}", started_at=canon.utc_now())
        ids = record_classification(w, sqlite_ledger.artifacts, c, run_id=run["id"], model_version_id=None)
    with sqlite_ledger.read() as conn:
        row = conn.execute(select(CheckResultRow).where(CheckResultRow.id == ids["check_result_id"])).mappings().one()
        art = conn.execute(select(Artifact).where(Artifact.id == ids["artifact_id"])).mappings().one()
    assert (row["kind"], row["name"], row["subject"], row["passed"], row["severity"]) == (
        "classification", "annex_iii_consistency", "cv-screener", 0, "critical")
    assert json.loads(row["details_json"])["reasoning"] == list(c.reasoning)
    stored = json.loads(sqlite_ledger.artifacts.read(art["content_hash"]))
    assert (art["kind"], stored["high_risk"], stored["basis"], stored["consistent"]) == ("risk_classification", True, "presumed", False)
    assert verify(sqlite_ledger).intact
