"""The employment scenario on the real ACS data under govflow's default policy.

Version 1 is the bias-mitigated model and passes the real gate; version 2 (SEX and RAC1P as features)
passes it too and serves 2017-2018; monitoring judges every window per SEX and RAC1P. The story runs
once per session (`tests.monitoring.employment_story`); the incident side is in
tests/incidents/test_employment_response.py. An unmitigated version 1 is blocked and the story stops.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from govflow.checks.policy import Policy
from govflow.demo.employment import CONFIGS, DEMO_PER_YEAR, PER_YEAR_ENV, YEARS, demo_per_year, run_story
from govflow.demo.story import Story
from govflow.errors import InputError
from govflow.flows.models import tabular as modeling
from govflow.flows.recording import set_ledger
from govflow.governance.config import load_config
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import CheckResultRow, Run
from govflow.governance.registry import versions as registry
from tests.monitoring.employment_story import PER_YEAR, V1, V2, StoryRun, opened, story_run

HERE = Path(__file__).parent
DISPARITIES = ("demographic_parity_difference", "disparate_impact_ratio", "equalized_odds_difference")


@pytest.fixture
def story(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StoryRun, Ledger]]:
    run = story_run(tmp_path_factory.getbasetemp() / "employment")
    with opened(run) as ledger:
        yield run, ledger


def _gate_fairness(ledger: Ledger, version: str) -> dict[tuple[str, str], dict[str, object]]:
    """The fairness results the gate recorded for a version: (name, subject) -> row."""
    with ledger.read() as conn:
        mv_id = registry.resolve(conn, version).id
        rows = conn.execute(select(CheckResultRow).join(Run, Run.id == CheckResultRow.run_id).where(
            CheckResultRow.model_version_id == mv_id, Run.name == "assess_model_fairness")).mappings().all()
    return {(r["name"], r["subject"]): dict(r) for r in rows}


def test_the_configs_hold_the_documented_default_policy() -> None:
    for path in CONFIGS:
        config = load_config(path)
        assert config.policy_model().fairness == Policy().fairness
        assert config.policy_model().drift == Policy().drift
        assert config.policy_model().performance.roc_auc_min == Policy().performance.roc_auc_min == 0.7
        assert config.model.mitigation == "exponentiated_gradient"
    assert [load_config(p).data.sensitive_as_features for p in CONFIGS] == [False, True]


def test_both_versions_pass_the_real_gate_per_sex_and_rac1p(story: tuple[StoryRun, Ledger]) -> None:
    run, ledger = story
    assert run.result.gates == {V1: "pass", V2: "pass"}
    assert run.result.promoted == [V1, V2]
    for version in (V1, V2):
        found = _gate_fairness(ledger, version)
        for feature in ("SEX", "RAC1P"):
            for name in DISPARITIES:
                row = found[(name, feature)]
                assert row["passed"] == 1 and row["severity"] == "critical", (version, name, feature, row)
        # The smallest RAC1P groups of the 2015 held-out split are reported, not judged (min_group_size 30).
        not_judged = {subject for (name, subject), row in found.items() if name == "group_size" and row["passed"] is None
                      and " & " not in subject}
        assert {"RAC1P=3", "RAC1P=5", "RAC1P=7"} <= not_judged and not any(s.startswith("SEX=") for s in not_judged)
        excluded = json.loads(str(found[("demographic_parity_difference", "RAC1P")]["details_json"]))["excluded_groups"]
        assert set(excluded) == {s.split("=")[1] for s in not_judged if s.startswith("RAC1P=")}


def test_version_1_decides_without_the_sensitive_attributes_and_version_2_with_them(
        story: tuple[StoryRun, Ledger]) -> None:
    _, ledger = story
    with ledger.read() as conn:
        hashes = [registry.version_row(conn, registry.resolve(conn, v).id)["artifact_hash"] for v in (V1, V2)]
    inputs = [set(modeling.load_model(ledger.artifacts.read(h)).prep.feature_names_in_) for h in hashes]
    assert not {"SEX", "RAC1P"} & inputs[0]
    assert {"SEX", "RAC1P"} <= inputs[1] and inputs[1] - inputs[0] == {"SEX", "RAC1P"}


def test_production_replay_and_monitoring_per_window_per_sex_and_rac1p(story: tuple[StoryRun, Ledger]) -> None:
    run, _ = story
    result = run.result
    assert result.served == dict.fromkeys(YEARS, PER_YEAR)
    before, after = result.monitor_runs
    assert [r.version for r in before.reports] == [V1, V2, V2]  # 2016 by version 1; 2017 and 2018 by version 2
    assert [r.version for r in after.reports] == [V1, V2, V2]
    for report in before.reports:  # no outcome yet: drift only
        assert report.with_outcome == 0 and report.suite("fairness") is None and report.suite("drift") is not None
    for report in after.reports:  # every outcome arrived: performance and fairness, per SEX and RAC1P
        assert report.with_outcome == report.rows == PER_YEAR
        fairness = report.suite("fairness")
        assert fairness is not None and report.suite("performance") is not None
        judged = {(r.subject, r.name) for r in fairness.results if r.observed is not None}
        assert {(f, n) for f in ("SEX", "RAC1P") for n in DISPARITIES} <= judged
        tagged = {r.details["model_version"] for r in fairness.results}
        assert tagged == {report.version}
    # The smallest RAC1P groups are too few in every window of the sample to judge: reported, with what the
    # disparities would be with them, never silently dropped.
    shown = 0
    for report in after.reports:
        fairness = report.suite("fairness")
        assert fairness is not None
        small = {r.subject for r in fairness.results if r.name == "group_size" and r.passed is None}
        assert {"RAC1P=3", "RAC1P=5", "RAC1P=7"} <= small
        disparities = {r.name: r for r in fairness.results if r.subject == "RAC1P" and r.name in DISPARITIES}
        caveats = [r for r in fairness.results if r.name == "small_group_exclusion" and r.subject == "RAC1P"]
        for caveat in caveats:  # a pass that holds only without them says so, with the value including them
            disparity = disparities[caveat.details["metric"]]
            assert disparity.passed is True and caveat.observed == disparity.details["value_with_all_groups"]
        shown += len(caveats)
    assert shown > 0
    # An alert is exactly a failed critical result; the monitor's incident is opened from it, or none.
    failed = [(r.version, res.name) for r in after.reports for s in r.suites for res in s.blocking]
    assert bool(failed) == bool(after.alerts) == (after.incident is not None)
    assert (result.incident_source == "monitoring alert") == bool(before.alerts or after.alerts)


def test_monitoring_results_are_linked_to_the_version_they_judged(story: tuple[StoryRun, Ledger]) -> None:
    _, ledger = story
    with ledger.read() as conn:
        ids = {registry.resolve(conn, v).id: v for v in (V1, V2)}
        rows = conn.execute(select(CheckResultRow.model_version_id, CheckResultRow.details_json)
                            .join(Run, Run.id == CheckResultRow.run_id)
                            .where(Run.name == "assess_outcome_fairness")).all()
    assert len(rows) > 0
    windows_by_version: dict[str, set[str]] = {}
    for mv_id, details in rows:
        data = json.loads(details)
        assert ids[str(mv_id)] == data["model_version"]
        windows_by_version.setdefault(ids[str(mv_id)], set()).add(data["window"]["start"])
    assert {v: len(w) for v, w in windows_by_version.items()} == {V1: 1, V2: 2}


@pytest.fixture
def fresh_ledger(prefect_harness: None, tmp_path: Path) -> Iterator[Ledger]:
    ledger = Ledger.open(home=tmp_path / "home")
    set_ledger(ledger)
    yield ledger
    set_ledger(None)
    ledger.close()


def test_without_mitigation_the_real_gate_blocks_and_the_story_stops(fresh_ledger: Ledger) -> None:
    unmitigated = (HERE / "employment-unmitigated.govflow.yaml", CONFIGS[1])
    result = run_story(fresh_ledger, fresh_ledger.home, unmitigated, per_year=100, story=Story(14))
    assert result.gates == {V1: "block"}
    assert result.promoted == [] and result.served == {} and result.incident is None
    assert result.stopped is not None and result.stopped.startswith(
        f"the gate blocked {V1} under the documented default policy")
    found = _gate_fairness(fresh_ledger, V1)
    observed = {name: float(json.loads(str(found[(name, "RAC1P")]["observed_json"]))) for name in DISPARITIES}
    assert observed == pytest.approx({"demographic_parity_difference": 0.238, "disparate_impact_ratio": 0.624,
                                      "equalized_odds_difference": 0.182}, abs=0.002)
    assert all(found[(name, "SEX")]["passed"] == 1 for name in DISPARITIES)
    assert result.verified is True


def test_the_demo_serves_its_sample_or_what_the_environment_asks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PER_YEAR_ENV, raising=False)
    assert demo_per_year() == DEMO_PER_YEAR
    for text, wanted in (("all", None), (" ALL ", None), ("5000", 5000)):
        monkeypatch.setenv(PER_YEAR_ENV, text)
        assert demo_per_year() == wanted
    for bad in ("0", "-3", "many"):
        monkeypatch.setenv(PER_YEAR_ENV, bad)
        with pytest.raises(InputError) as refused:
            demo_per_year()
        assert str(refused.value).startswith(f"{PER_YEAR_ENV} must be a positive number of people per survey year")
