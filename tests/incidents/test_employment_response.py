"""The incident response of the employment story on the real ACS data, under govflow's default policy.

The story (run once per session, `tests.monitoring.employment_story`) serves 2016 with version 1 and
2017-2018 with version 2; the incident (the monitor's, or reported by hand when monitoring raised
no alert) implicates version 2. The playbook must land serving on version 1, refuse promotion while
frozen, close with a named approval, and leave a ledger that verifies and a trace that shows it all.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from govflow.cli.main import app
from govflow.flows.serving import load_production
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import Prediction, Run
from govflow.governance.monitoring import incidents
from govflow.governance.registry import versions as registry
from tests.monitoring.employment_story import SYSTEM, V1, V2, StoryRun, opened, story_run


@pytest.fixture
def story(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StoryRun, Ledger]]:
    run = story_run(tmp_path_factory.getbasetemp() / "employment")
    with opened(run) as ledger:
        yield run, ledger


def cli(ledger: Ledger, *args: str) -> Result:
    return CliRunner().invoke(app, ["--home", str(ledger.home), *args])


def test_the_rollback_lands_on_version_1_and_serving_answers_with_it(story: tuple[StoryRun, Ledger]) -> None:
    run, ledger = story
    result = run.result
    out = result.incident
    assert out is not None and out.version == V2 and out.kind == "fundamental_rights"
    assert result.incident_source in ("monitoring alert", "reported by hand")
    assert out.rollback["suspended"] == V2 and out.rollback["restored"] == V1 and not out.rollback["stopped"]
    assert result.served_after == V1  # the requests served after the rollback
    assert load_production(ledger, SYSTEM).version.version == 1  # and still now, after the close
    with ledger.read() as conn:
        v1, v2 = (registry.resolve(conn, v).id for v in (V1, V2))
        assert registry.current_stage(conn, v2) == "suspended"
        last = conn.execute(select(Prediction.model_version_id).order_by(Prediction.served_at.desc()).limit(5)).scalars()
        assert set(last) == {v1}


def test_the_response_is_recorded_step_by_step(story: tuple[StoryRun, Ledger]) -> None:
    run, ledger = story
    out = run.result.incident
    assert out is not None
    with ledger.read() as conn:
        view = incidents.get(conn, out.incident_id)
    actions = [e["action"] for e in view.events]
    assert actions[0] == "opened" and set(actions[1:-9]) <= {"alert"}  # a monitor run may add its alerts
    assert actions[-9:] == ["response_plan", "frozen", "suspended", "rolled_back", "impact_assessed", "root_cause",
                            "documents_drafted", "notified", "closed"]  # reported before it could close
    assert view.event("notified")["details"]["on_time"] is True  # type: ignore[index]
    assert (view.report_due_at - view.aware_at).days == 15  # Art. 73: a fundamental-rights infringement
    impact = view.event("impact_assessed")["details"]  # type: ignore[index]
    assert impact["version"] == V2 and impact["decisions"] > 0
    assert {g["feature"] for g in impact["by_group"]} == {"SEX", "RAC1P"}
    assert "configuration changed: data.sensitive_as_features" in out.root_cause
    assert sorted(d.split("-")[0] for d in out.documents) == ["communication"] * 4 + ["incident"] * 2
    closed = view.events[-1]
    assert (closed["action"], closed["by"]) == ("closed", "Ravi Patel")
    assert run.result.closed is not None and run.result.closed["unfrozen"] is True


def test_promotion_was_refused_while_frozen(story: tuple[StoryRun, Ledger]) -> None:
    run, _ = story
    refused = run.result.refused_while_frozen
    assert refused is not None
    assert refused.startswith(f"cannot promote {V2}: missing: the system {SYSTEM} is frozen (incident "
                              f"{run.result.incident.incident_id})")


def test_trace_shows_the_response_and_the_ledger_verifies(story: tuple[StoryRun, Ledger]) -> None:
    run, ledger = story
    assert run.result.verified is True
    out = run.result.incident
    assert out is not None
    with ledger.read() as conn:
        flow_runs = conn.execute(select(Run.id).where(Run.name == "incident", Run.kind == "flow")).scalars().all()
    assert len(flow_runs) == 1
    trace = cli(ledger, "trace", "run", flow_runs[0])
    assert trace.exit_code == 0, trace.output
    assert trace.output.splitlines()[0].startswith("flow incident · completed")
    for step in ("freeze_system", "contain", "assess_impact", "find_root_cause", "draft_documents"):
        assert f"task {step} · completed" in trace.output
    assert "stages: candidate → approved → production → suspended" in cli(ledger, "trace", "model", V2).output
    assert "stages: candidate → approved → production → retired → production" in cli(ledger, "trace", "model", V1).output
    shown = cli(ledger, "incident", "show", out.incident_id[:12])
    assert shown.exit_code == 0 and "rolled_back" in shown.output and "closed" in shown.output
    diff = cli(ledger, "diff", V1, V2)
    assert "  * configuration changed: data.sensitive_as_features" in diff.output
    verified = cli(ledger, "verify")
    assert verified.exit_code == 0 and verified.output.startswith("ledger intact: ")
