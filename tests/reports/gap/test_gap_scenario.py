"""The seed scenario: credit scoring before the gate, after gate and approvals, and blocked by the real gate."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from govflow import canonical as canon
from govflow.governance.config import load_config
from govflow.governance.ledger.engine import TABLES, Ledger
from govflow.governance.ledger.runs import RunRecord, record_run
from govflow.governance.ledger.schema import Artifact, ModelVersion
from govflow.governance.ledger.verify import verify
from govflow.governance.registry import versions as registry
from govflow.governance.reports import gap, gap_evidence
from govflow.governance.reports.gap import GapReport
from govflow.governance.reports.gap_queries import Status, monitoring_interval
from tests.reports.gap.scenario import Scenario

# What the scenario's story says is missing before the gate: documentation, bias report, oversight.
BEFORE_GATE_MISSING = ["eu_ai_act/art-11", "eu_ai_act/art-10.2f", "eu_ai_act/art-14", "eu_ai_act/art-13",
                       "eu_ai_act/art-9.8", "eu_ai_act/art-9.5"]
# What people still have to write after gate and approvals (no tool can generate them).
REMAINING = ["eu_ai_act/art-9.2", "eu_ai_act/art-17", "eu_ai_act/art-72.3", "eu_ai_act/annex-iv.5",
             "eu_ai_act/annex-iv.7", "eu_ai_act/annex-iv.8", "eu_ai_act/annex-iv.9",
             # the obligations beyond the development file (#16 item 8): a credit system declaring sensitive features
             "eu_ai_act/art-5", "eu_ai_act/art-10.5", "eu_ai_act/art-26", "eu_ai_act/art-27", "eu_ai_act/art-43",
             "eu_ai_act/art-47", "eu_ai_act/art-49", "eu_ai_act/art-50"]
ATTACH = {"risk_register": "risk-register.md", "quality_management": "qms-procedures.md",
          "post_market_monitoring_plan": "post-market-monitoring-plan.md", "standards_applied": "standards.md",
          "declaration_of_conformity": "declaration.md", "prohibited_practices_screening": "art-5-screening.md",
          "special_category_justification": "art-10-5-justification.md", "deployer_oversight": "deployer.md",
          "fria": "fria.yaml", "conformity_assessment": "conformity.md", "eu_database_registration": "registration.md",
          "transparency_notice": "notice.md"}


def write_attachment(folder: Path, kind: str, name: str) -> Path:
    """A document of ``kind``; the FRIA as its structured form, every question answered."""
    import yaml

    from govflow.governance.reports.gap_evidence import template_text

    text = f"# {kind}\n\nWritten by the compliance team for credit-scoring.\n"
    if kind == "fria":
        form = yaml.safe_load(template_text("fria"))
        text = yaml.safe_dump({k: v if k == "kind" else f"the deployer's answer on {k}" for k, v in form.items()})
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def statuses(report: GapReport, keys: list[str]) -> dict[str, str]:
    return {k: report.status_of(k).value for k in keys}


def test_before_the_gate_documentation_bias_report_and_oversight_are_missing(credit: Scenario) -> None:
    r = credit.before
    assert (r.system, r.candidate, r.production) == ("credit-scoring", "credit-scoring:1", None)
    assert statuses(r, BEFORE_GATE_MISSING) == dict.fromkeys(BEFORE_GATE_MISSING, "missing")
    assert r.assessment("eu_ai_act/art-11").detail == "no annex_iv recorded for credit-scoring:1"
    assert r.assessment("eu_ai_act/art-10.2f").detail == "no fairness results recorded for credit-scoring:1"
    assert r.assessment("eu_ai_act/art-14").detail == "no approval in force for credit-scoring:1 from: model_owner, risk_officer"
    assert not r.passed and {a.requirement.key for a in r.failing} >= set(BEFORE_GATE_MISSING)
    # what training already gives: data validated, runs logged, data fingerprinted, classified
    assert statuses(r, ["eu_ai_act/art-10.3", "eu_ai_act/art-12", "eu_ai_act/art-6", "iso_42001/a.7.5"]) == dict.fromkeys(
        ["eu_ai_act/art-10.3", "eu_ai_act/art-12", "eu_ai_act/art-6", "iso_42001/a.7.5"], "satisfied")
    assert r.progress is None


def test_after_gate_and_approvals_those_are_satisfied_with_links_to_their_evidence(credit: Scenario) -> None:
    r = credit.after
    assert statuses(r, BEFORE_GATE_MISSING) == dict.fromkeys(BEFORE_GATE_MISSING, "satisfied")
    links = {k: {x.table for x in r.assessment(k).links} for k in BEFORE_GATE_MISSING}
    assert links == {"eu_ai_act/art-11": {"artifacts"}, "eu_ai_act/art-10.2f": {"check_results"},
                     "eu_ai_act/art-14": {"approvals"}, "eu_ai_act/art-13": {"artifacts"},
                     "eu_ai_act/art-9.8": {"decisions", "check_results"}, "eu_ai_act/art-9.5": {"decisions"}}
    assert [x.note for x in r.assessment("eu_ai_act/art-14").links] == ["model_owner: Dana Meyer", "risk_officer: Ravi Patel"]


def test_after_gate_and_approvals_what_remains_is_what_people_must_write(credit: Scenario) -> None:
    r = credit.after
    assert [a.requirement.key for a in r.failing] == REMAINING
    assert r.assessment("eu_ai_act/art-72.3").detail == "no post_market_monitoring_plan recorded for credit-scoring:1"
    # operation is judged once a version is in production
    assert statuses(r, ["eu_ai_act/art-12.operation", "eu_ai_act/art-26.5", "eu_ai_act/art-72.1"]) == dict.fromkeys(
        ["eu_ai_act/art-12.operation", "eu_ai_act/art-26.5", "eu_ai_act/art-72.1"], "not_applicable")
    assert r.assessment("eu_ai_act/art-73").detail == "no incident recorded for credit-scoring"


def test_progress_is_shown_against_the_previous_report(credit: Scenario) -> None:
    p = credit.after.progress
    assert p is not None
    assert p.previous_artifact_id == credit.before.artifact_ids["json"]
    assert {c.key for c in p.improved} >= set(BEFORE_GATE_MISSING)
    assert p.regressed == ()
    assert all(c.before == "missing" for c in p.improved if c.key in BEFORE_GATE_MISSING)


def test_the_remediation_plan_is_ordered_by_severity(credit: Scenario) -> None:
    plan = credit.before.remediation()
    ranks = [gap.SEVERITIES.index(a.requirement.severity) for a in plan]
    assert ranks == sorted(ranks)
    assert plan[0].requirement.severity == "critical" and plan[0].mandatory
    assert all(a.status in (Status.MISSING, Status.STALE) for a in plan)


def test_the_real_gate_blocks_and_the_residual_risk_requirement_says_why(credit: Scenario) -> None:
    r = credit.blocked
    assert r.candidate == "credit-scoring:2"
    a = r.assessment("eu_ai_act/art-9.5")
    assert a.status == Status.MISSING
    assert a.detail.startswith("the gate's latest decision for credit-scoring:2 is block: fairness: equalized_odds_difference")
    assert [x.table for x in a.links] == ["decisions"]
    # the testing itself happened: Art. 9(6)-(8) is satisfied, its outcome is not
    assert r.status_of("eu_ai_act/art-9.8") == Status.SATISFIED
    # documents people attach to version 1 are inherited by version 2: none yet, so still missing
    assert r.status_of("eu_ai_act/art-72.3") == Status.MISSING


def test_every_evidence_link_names_a_ledger_row(credit: Scenario) -> None:
    ledger = Ledger.open(home=credit.home)
    try:
        with ledger.read() as conn:
            for report in (credit.before, credit.after, credit.blocked):
                for a in report.assessments:
                    for link in a.links:
                        if link.table == "config":
                            continue
                        table = TABLES[link.table]
                        found = conn.execute(select(table.c.id).where(table.c.id == link.id)).scalar()
                        assert found == link.id, (a.requirement.key, str(link))
    finally:
        ledger.close()


def test_the_report_is_recorded_as_artifacts_and_the_ledger_still_verifies(credit: Scenario) -> None:
    ledger = Ledger.open(home=credit.home)
    try:
        with ledger.read() as conn:
            rows = conn.execute(select(Artifact).where(Artifact.id.in_(list(credit.after.artifact_ids.values())))).mappings().all()
            mv = registry.resolve(conn, "credit-scoring:1")
        assert sorted((r["kind"], r["name"], r["media_type"]) for r in rows) == [
            ("gap_report", "gap-report-credit-scoring.html", "text/html"),
            ("gap_report", "gap-report-credit-scoring.json", "application/json"),
            ("gap_report", "gap-report-credit-scoring.md", "text/markdown")]
        assert {r["model_version_id"] for r in rows} == {mv.id}
        by_type = {r["media_type"]: ledger.artifacts.read(r["content_hash"]).decode("utf-8") for r in rows}
        stored = json.loads(by_type["application/json"])
        assert stored["failing"] == REMAINING and stored["classification"]["high_risk"] is True
        md = by_type["text/markdown"]
        assert md.startswith("# Regulatory gap analysis: credit-scoring\n")
        assert "**FAIL**: 15 mandatory requirement(s)" in md and "## Remediation plan (most severe first)" in md
        assert "`approvals/" in md  # evidence cited as table/id
        assert "http://" not in by_type["text/html"] and "https://" not in by_type["text/html"]
        # Statuses are coloured words, not emoji that show as empty boxes without an emoji font.
        page = by_type["text/html"]
        assert '<strong class="badge badge-pass">SATISFIED</strong>' in page
        assert '<strong class="badge badge-fail">MISSING</strong>' in page
        assert not any(icon in page + md for icon in "✅❌⚠")
        report = verify(ledger)
        assert report.intact, report.first()
    finally:
        ledger.close()


def test_attached_plans_close_the_remaining_gaps_and_gap_exits_0(credit: Scenario, credit_copy: Ledger, tmp_path: Path) -> None:
    for kind, name in ATTACH.items():
        write_attachment(tmp_path, kind, name)
    home = str(credit_copy.home)
    cli = [str(Path(sys.executable).parent / "govflow"), "--home", home]
    first = subprocess.run([*cli, "gap", "-c", str(credit.relaxed_config), "--version", "1"], capture_output=True, text=True)
    assert first.returncode == 1, first.stderr
    assert "  result: FAIL, 15 mandatory requirement(s) missing or stale" in first.stdout
    for kind, name in ATTACH.items():
        done = subprocess.run([*cli, "evidence", "attach", "credit-scoring:1", str(tmp_path / name), "--kind", kind],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(f"attached {name} to credit-scoring:1 as {kind}: artifacts/")
    second = subprocess.run([*cli, "gap", "-c", str(credit.relaxed_config), "--version", "1", "-o", str(tmp_path / "r.html")],
                            capture_output=True, text=True)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "  result: PASS, every mandatory requirement has current evidence" in second.stdout
    assert "    + eu_ai_act/art-72.3: missing -> satisfied" in second.stdout
    assert (tmp_path / "r.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    # version 2 inherits the attached documents; its own gate still blocks
    blocked = gap.record_gap(credit_copy, load_config(credit.strict_config), version="2")
    assert blocked.status_of("eu_ai_act/art-72.3") == Status.SATISFIED
    assert "inherited" in blocked.assessment("eu_ai_act/art-72.3").detail
    assert [a.requirement.key for a in blocked.failing] == ["eu_ai_act/art-9.5", "eu_ai_act/art-14", "eu_ai_act/annex-iv.3"]


def test_an_unknown_evidence_kind_is_refused(credit_copy: Ledger) -> None:
    from govflow.errors import InputError

    with pytest.raises(InputError) as raised:
        gap_evidence.attach_evidence(credit_copy, "credit-scoring:1", kind="monitoring_plan", name="p.md", data=b"x", media_type="text/markdown")
    assert str(raised.value).startswith("unknown evidence kind 'monitoring_plan'; choose one of: risk_register, ")


def _monitoring_run(ledger: Ledger, model_version_id: str, ended_ago: timedelta) -> str:
    """A completed monitoring flow run about the version, recorded through the ledger's run API."""
    from govflow.checks.results import CheckKind, CheckResult, Severity
    from govflow.governance.ledger.ids import new_id

    end = canon.utc_now() - ended_ago
    rec = RunRecord(run_id=new_id(), kind="flow", name="monitor", started_at=end - timedelta(minutes=2), state="completed",
                    ended_at=end, model_version_id=model_version_id,
                    checks=(CheckResult(kind=CheckKind.DRIFT, name="drifted_column_share", subject="dataset",
                                        observed=0.1, threshold=0.3, passed=True, severity=Severity.CRITICAL),))
    record_run(ledger, rec)
    return rec.run_id


def test_in_production_monitoring_must_run_within_its_schedule(credit: Scenario, credit_copy: Ledger) -> None:
    registry.promote(credit_copy, "credit-scoring:1", by="Ravi Patel", required_roles=["model_owner", "risk_officer"])
    config = load_config(credit.relaxed_config)  # monitoring.schedule "0 6 * * *": daily, so at most 26.4 h old
    r = gap.record_gap(credit_copy, config, version="1")
    assert r.production == "credit-scoring:1"
    assert r.status_of("eu_ai_act/art-26.5") == Status.MISSING
    assert r.assessment("eu_ai_act/art-26.5").detail == "no completed monitoring run about credit-scoring:1"
    assert r.status_of("eu_ai_act/art-12.operation") == Status.MISSING  # nothing served yet
    with credit_copy.read() as conn:
        mv_id = conn.execute(select(ModelVersion.id).where(ModelVersion.version == 1)).scalar_one()
    old = _monitoring_run(credit_copy, mv_id, timedelta(days=3))
    r = gap.record_gap(credit_copy, config, version="1")
    assert r.status_of("eu_ai_act/art-26.5") == Status.STALE
    assert "longer ago than the schedule allows (26.4 h)" in r.assessment("eu_ai_act/art-26.5").detail
    assert [x.id for x in r.assessment("eu_ai_act/art-26.5").links] == [old]
    fresh = _monitoring_run(credit_copy, mv_id, timedelta(hours=1))
    r = gap.record_gap(credit_copy, config, version="1")
    assert r.status_of("eu_ai_act/art-26.5") == Status.SATISFIED
    assert [x.id for x in r.assessment("eu_ai_act/art-26.5").links] == [fresh]
    assert r.progress is not None and [c.key for c in r.progress.improved] == ["eu_ai_act/art-26.5", "eu_ai_act/art-72.1",
                                                                             "nist_ai_rmf/measure-2.4"]


def test_a_log_retention_shorter_than_six_months_is_stale(credit: Scenario) -> None:
    # load_config refuses retention_days < 183, so this config is the raw mapping an older file could hold
    config = load_config(credit.relaxed_config).snapshot()
    config["logging"] = {**config["logging"], "retention_days": 90}
    ledger = Ledger.open(home=credit.home)
    try:
        with ledger.read() as conn:
            r = gap.evaluate(conn, config, frameworks=["eu_ai_act"], version="1")
    finally:
        ledger.close()
    a = r.assessment("eu_ai_act/art-19")
    assert (a.status, a.detail, a.failing) == (Status.STALE, "logging.retention_days = 90, below 183", True)


@pytest.mark.parametrize(("schedule", "hours"), [("0 6 * * *", 26.4), ("*/15 * * * *", 1.25), ("0 6 * * 1", 184.8),
                                                 ("0 6 * * 1-5", 79.2)])
def test_the_monitoring_interval_follows_the_schedule(schedule: str, hours: float) -> None:
    assert monitoring_interval(schedule, canon.utc_now()).total_seconds() / 3600 == pytest.approx(hours)


def test_a_system_with_no_version_is_missing_everything_version_bound(ledger: Ledger, credit: Scenario) -> None:
    config = load_config(credit.relaxed_config).snapshot()
    config["system"] = {**config["system"], "name": "new-system"}
    r = gap.record_gap(ledger, config, frameworks=["eu_ai_act"])
    assert r.candidate is None
    assert r.assessment("eu_ai_act/art-11").detail == ("no model version recorded for new-system: train one with "
                                                       "`govflow run train -c govflow.yaml`")
    assert r.status_of("eu_ai_act/art-6") == Status.SATISFIED
    assert verify(ledger).intact


def test_gap_summary_gives_the_demo_its_lines(credit: Scenario, credit_copy: Ledger) -> None:
    report, lines = gap.gap_summary(credit_copy, credit.relaxed_config, version="1")
    assert [f.name for f in report.frameworks] == ["eu_ai_act"]
    assert lines[0] == "credit-scoring: high-risk (Annex III 5(b), declared); version under review credit-scoring:1, in production none"
    assert lines[-1] == "  result: FAIL, 15 mandatory requirement(s) missing or stale"
    assert ("    1. [critical, mandatory] eu_ai_act/art-5 (Art. 5(1)) missing: no prohibited_practices_screening recorded "
            "for credit-scoring:1") in lines
