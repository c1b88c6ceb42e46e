"""Requirement catalogues as data: what they hold, strict loading, a framework is a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from govflow.errors import InputError
from govflow.governance.reports import gap
from govflow.governance.reports.gap import CatalogueError, load_catalogue, load_catalogues

EU_ARTICLES = ["art-6", "art-9.2", "art-9.8", "art-9.5", "art-10.2", "art-10.2f", "art-10.3", "art-11", "art-12",
               "art-12.operation", "art-13", "art-14", "art-15.3", "art-17", "art-19", "art-26.5", "art-72.1",
               "art-72.3", "art-73"] + [f"annex-iv.{i}" for i in range(1, 10)] + [
               "art-5", "art-6.3", "art-10.5", "art-26", "art-27", "art-43", "art-47", "art-49", "art-50", "art-86"]
NIST = ["govern-1.6", "map-1.1", "measure-1.1", "measure-2.1", "measure-2.3", "measure-2.4", "measure-2.11", "manage-4.1"]
ISO = ["a.6.2.7", "a.6.2.8", "a.7.4", "a.7.5", "a.7.6"]


def by_name() -> dict[str, gap.Framework]:
    return {f.name: f for f in load_catalogues()}


@pytest.mark.parametrize(("name", "ids", "binding"), [("eu_ai_act", EU_ARTICLES, True), ("nist_ai_rmf", NIST, False),
                                                      ("iso_42001", ISO, False)])
def test_each_catalogue_holds_its_requirements(name: str, ids: list[str], binding: bool) -> None:
    framework = by_name()[name]
    assert [r.id for r in framework.requirements] == ids
    assert framework.binding is binding
    for r in framework.requirements:
        assert r.citation and r.title and r.remediation and r.evidence
        assert r.severity in gap.SEVERITIES and r.scope in gap.SCOPES
        assert r.mandatory_high_risk is binding  # only the law is mandatory; NIST and ISO are voluntary


def test_every_requirement_names_the_ledger_records_that_satisfy_it() -> None:
    eu = {r.id: r for r in by_name()["eu_ai_act"].requirements}
    assert eu["art-11"].evidence == ({"record": "artifact", "kind": "annex_iv", "fresh": {"after": "decision"}},)
    assert eu["art-10.2f"].evidence == ({"record": "check_results", "check": "fairness"},)
    assert eu["art-14"].evidence == ({"record": "approvals"},)
    assert eu["art-19"].evidence == ({"record": "config", "key": "logging.retention_days", "min": 183},)
    assert eu["art-26.5"].scope == "production"
    assert eu["art-26.5"].evidence == ({"record": "monitoring_run", "fresh": {"within": "monitoring_schedule"}},)
    assert eu["art-9.5"].evidence == ({"record": "decision", "outcome": "pass"},)


def test_adding_a_framework_is_adding_a_file(tmp_path: Path) -> None:
    (tmp_path / "internal_policy.yaml").write_text(
        "framework: internal_policy\ntitle: Our model risk policy\nbinding: true\nrequirements:\n"
        "  - {id: mrp-1, citation: 'MRP 1', title: Two approvals, mandatory_high_risk: true, severity: high,\n"
        "     scope: candidate, evidence: [{record: approvals}], remediation: Approve it.}\n", encoding="utf-8")
    (framework,) = load_catalogues(folder=tmp_path)
    assert (framework.name, framework.title, framework.binding) == ("internal_policy", "Our model risk policy", True)
    assert framework.requirements[0].key == "internal_policy/mrp-1"


BASE = ("framework: x\ntitle: X\nbinding: false\nrequirements:\n  - {id: r1, citation: C, title: T, "
        "mandatory_high_risk: false, severity: low, scope: %s, evidence: [%s], remediation: R%s}\n")


@pytest.mark.parametrize(("scope", "item", "extra", "message"), [
    ("candidate", "{record: approval}", "",
     "x.yaml: requirements[0] (r1): evidence item {'record': 'approval'}: record must be one of "),
    ("candidate", "{record: artifact}", "",
     "x.yaml: requirements[0] (r1): evidence item {'record': 'artifact'}: needs kind (artifact), check (check_results) or key (config)"),
    ("candidate", "{record: approvals, since: 3}", "",
     "x.yaml: requirements[0] (r1): evidence item {'record': 'approvals', 'since': 3}: unknown key(s) ['since']"),
    ("system", "{record: approvals}", "",
     "x.yaml: requirements[0] (r1): record approvals needs a version: use scope candidate or production"),
    ("everywhere", "{record: approvals}", "", "x.yaml: requirements[0] (r1): scope 'everywhere' is not one of candidate, production, system"),
    ("candidate", "{record: approvals}", ", owner: me",
     "x.yaml: requirements[0] (r1): unknown key(s) ['owner']; allowed: applies, citation, evidence, id, mandatory_high_risk, remediation, scope, severity, title"),
        ("candidate", "{record: approvals}", ", applies: {annex: 5}",
         "x.yaml: requirements[0] (r1): applies must be one of {annex_iii, not_annex_iii, classification, config: ...}, not {'annex': 5}"),
])
def test_a_malformed_catalogue_is_refused_naming_file_and_requirement(tmp_path: Path, scope: str, item: str, extra: str,
                                                                      message: str) -> None:
    file = tmp_path / "x.yaml"
    file.write_text(BASE % (scope, item, extra), encoding="utf-8")
    with pytest.raises(CatalogueError) as raised:
        load_catalogue(file)
    assert str(raised.value).startswith(message)
    assert isinstance(raised.value, InputError)  # exit 2


def test_an_unknown_framework_is_an_input_error() -> None:
    with pytest.raises(InputError) as raised:
        load_catalogues(["eu_ai_akt"])
    assert str(raised.value) == "unknown framework 'eu_ai_akt'; the catalogues are: eu_ai_act, iso_42001, nist_ai_rmf"


def test_the_new_articles_cite_the_act_and_say_when_they_apply() -> None:
    eu = {r.id: r for r in by_name()["eu_ai_act"].requirements}
    assert [(i, eu[i].citation) for i in ("art-5", "art-6.3", "art-10.5", "art-27", "art-86")] == [
        ("art-5", "Art. 5(1)"), ("art-6.3", "Art. 6(3)-(4) and Art. 49(2)"), ("art-10.5", "Art. 10(5)"),
        ("art-27", "Art. 27(1)-(3)"), ("art-86", "Art. 86(1)")]
    assert eu["art-27"].applies == {"annex_iii": ["5(a)", "5(b)", "5(c)"]}
    assert eu["art-27"].evidence == ({"record": "artifact", "kind": "fria", "fresh": {"before": "first_prediction"}},)
    assert eu["art-86"].applies == {"not_annex_iii": ["2"]} and eu["art-86"].scope == "production"
    assert eu["art-6.3"].applies == {"classification": "presumed"}


def test_evidence_kinds_are_catalogue_data() -> None:
    from govflow.governance.reports.gap_evidence import evidence_kinds

    kinds = evidence_kinds()
    assert list(kinds)[:5] == ["risk_register", "quality_management", "post_market_monitoring_plan",
                               "standards_applied", "declaration_of_conformity"]
    assert {"prohibited_practices_screening", "derogation_assessment", "fria", "eu_database_registration",
            "transparency_notice", "explanation_procedure"} <= set(kinds)
    assert [q["key"] for q in kinds["fria"].template][:3] == ["deployer", "processes", "period_and_frequency"]
    every_artifact_kind = {item["kind"] for f in load_catalogues() for r in f.requirements for item in r.evidence
                           if item["record"] == "artifact"}
    generated = {"annex_iv", "model_card", "datasheet"}
    assert every_artifact_kind - generated <= set(kinds)  # a requirement never asks for a kind nobody can attach


def test_an_evidence_kind_without_title_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text(BASE % ("candidate", "{record: approvals}", "") + "evidence_kinds: [{kind: plan}]\n",
                                     encoding="utf-8")
    with pytest.raises(CatalogueError) as raised:
        load_catalogue(tmp_path / "x.yaml")
    assert str(raised.value) == "x.yaml: evidence_kinds[0]: expected {kind, title[, template]}, got {'kind': 'plan'}"
