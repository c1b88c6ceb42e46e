"""Not applicable only when truly so: a system that served decisions keeps its operation obligations,
and Art. 73 asks for reports sent, not drafted (#16 items 5 and 8)."""

from __future__ import annotations

from pathlib import Path

from govflow.governance.config import load_config
from govflow.governance.ledger.engine import Ledger
from govflow.governance.monitoring import incidents, reporting
from govflow.governance.registry import versions as registry
from govflow.governance.reports import gap
from govflow.governance.reports.gap_queries import Status
from tests.monitoring.fixtures import _govflow_env, released
from tests.monitoring.system import applicants, past_midnight, serve

__all__ = ["_govflow_env", "released"]
SYSTEM = "toy-screening"


def test_after_serving_stopped_the_operation_obligations_still_apply(released: tuple[Path, Ledger]) -> None:
    config, ledger = released
    serve(ledger, SYSTEM, applicants(40, seed=3, start_id=30_000), past_midnight(3))
    with ledger.read() as conn:
        v1 = registry.resolve(conn, f"{SYSTEM}:1")
    incident = incidents.open_incident(ledger, system=SYSTEM, kind="fundamental_rights", summary="complaint",
                                       by="tests", model_version_id=v1.id)
    assert incidents.suspend_and_roll_back(ledger, incident.id, "tests")["stopped"] is True  # nothing serves now

    report = gap.record_gap(ledger, load_config(config), frameworks=["eu_ai_act"])
    assert report.production is None
    operation = report.assessment("eu_ai_act/art-12.operation")
    assert (operation.status, operation.version) == (Status.SATISFIED, f"{SYSTEM}:1")
    assert operation.detail == f"40 predictions of {SYSTEM}:1 logged"
    monitoring = report.assessment("eu_ai_act/art-26.5")
    assert monitoring.status == Status.MISSING and monitoring.detail == f"no completed monitoring run about {SYSTEM}:1"
    assert report.status_of("eu_ai_act/art-86") == Status.MISSING  # no explanation procedure attached
    art_73 = report.assessment("eu_ai_act/art-73")
    assert art_73.status == Status.MISSING and "no notice drafted" in art_73.detail

    reporting.notify(ledger, incident.id, to="Bundesnetzagentur", reference="KI-1")
    again = gap.record_gap(ledger, load_config(config), frameworks=["eu_ai_act"])
    assert again.status_of("eu_ai_act/art-73") == Status.SATISFIED
    assert again.assessment("eu_ai_act/art-73").detail == "1 incident(s): 1 reported within the deadline, 0 not reportable"


def test_a_fria_made_after_the_first_decision_is_stale(released: tuple[Path, Ledger]) -> None:
    import yaml

    from govflow.governance.reports.gap_evidence import attach_evidence, template_text

    config, ledger = released
    serve(ledger, SYSTEM, applicants(10, seed=4, start_id=40_000), past_midnight(3))
    form = {k: v if k == "kind" else f"answer on {k}" for k, v in yaml.safe_load(template_text("fria")).items()}
    attach_evidence(ledger, f"{SYSTEM}:1", kind="fria", name="fria.yaml", data=yaml.safe_dump(form).encode(),
                    media_type="application/yaml")
    as_credit = load_config(config).snapshot()  # the same system, read as a credit scorer (Art. 27 names 5(b))
    as_credit["system"] = {**as_credit["system"], "annex_iii": "5(b)",
                           "intended_purpose": "Assess the creditworthiness of natural persons applying for consumer credit"}
    fria = gap.record_gap(ledger, as_credit, frameworks=["eu_ai_act"]).assessment("eu_ai_act/art-27")
    assert fria.status == Status.STALE and fria.mandatory
    assert "after the first decision was served" in fria.detail and "it is due before first use" in fria.detail
    plain = gap.record_gap(ledger, load_config(config), frameworks=["eu_ai_act"]).assessment("eu_ai_act/art-27")
    assert plain.status == Status.NOT_APPLICABLE
    assert plain.detail == "applies to Annex III points 5(a), 5(b), 5(c); toy-screening is under none"
