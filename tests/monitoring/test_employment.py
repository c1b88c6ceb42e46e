"""The employment scenario on the real ACS data: the real gate result, and the whole story under a stated relaxed policy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.demo import Story
from flows.employment import CONFIGS, StoryResult, run_story
from flows.recording import set_ledger
from governance.ledger import Ledger

HERE = Path(__file__).parent
RELAXED = (HERE / "employment-relaxed.govflow.yaml", HERE / "employment-v2-relaxed.govflow.yaml")


@pytest.fixture
def employment_ledger(prefect_harness: None, tmp_path: Path) -> Iterator[Ledger]:
    ledger = Ledger.open(home=tmp_path / "home")
    set_ledger(ledger)
    yield ledger
    set_ledger(None)
    ledger.close()


def test_the_real_gate_blocks_and_the_demo_stops_there(employment_ledger: Ledger) -> None:
    result = run_story(employment_ledger, employment_ledger.home, CONFIGS, per_year=100, story=Story(14))
    assert result.gates == {"employment-screening:1": "block"}
    assert result.promoted == [] and result.served == {} and result.incident is None
    assert result.stopped is not None and result.stopped.startswith("the gate blocked employment-screening:1 under "
                                                                     "the documented default policy")
    assert result.verified is True


def test_the_whole_story_under_a_relaxed_policy(employment_ledger: Ledger) -> None:
    result: StoryResult = run_story(employment_ledger, employment_ledger.home, RELAXED, per_year=1000, story=Story(14))

    assert result.gates == {"employment-screening:1": "pass", "employment-screening:2": "pass"}
    assert result.served == {2016: 1000, 2017: 1000, 2018: 1000}
    before, after = result.monitor_runs
    assert [r.version for r in before.reports] == ["employment-screening:1", "employment-screening:2",
                                                   "employment-screening:2"]
    assert all(r.suite("fairness") is None and r.with_outcome == 0 for r in before.reports)
    assert all(r.with_outcome == r.rows == 1000 for r in after.reports)
    for report in after.reports:  # fairness per SEX and RAC1P in every window, by the relaxed policy
        fairness = report.suite("fairness")
        assert fairness is not None
        judged = {(r.subject, r.name) for r in fairness.results if r.observed is not None}
        assert {("SEX", "demographic_parity_difference"), ("RAC1P", "equalized_odds_difference")} <= judged
    assert result.incident is not None and result.incident_source in ("monitoring alert", "reported by hand")
    if result.incident.version == "employment-screening:2":
        assert result.incident.rollback["restored"] == "employment-screening:1"
    assert result.refused_while_frozen is not None and "is frozen (incident" in result.refused_while_frozen
    assert result.closed is not None and result.closed["unfrozen"] is True
    assert result.verified is True
