"""A shifted population is scored, its out-of-domain fields recorded, and monitoring alerts past
policy.drift.out_of_domain_share_max (#17 item 4)."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from govflow.flows.monitor import monitor_flow
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import Prediction
from tests.monitoring.system import applicants, past_midnight, serve

SYSTEM = "toy-screening"


def test_a_shifted_population_is_scored_flagged_and_alerts(released: tuple[Path, Ledger]) -> None:
    config, ledger = released
    serve(ledger, SYSTEM, applicants(600, seed=1, start_id=10_000), past_midnight(14))
    shifted = applicants(600, seed=2, start_id=20_000)
    shifted.loc[:59, "x1"] = 50.0  # 10% of the window far outside the range seen in training
    ids = serve(ledger, SYSTEM, shifted, past_midnight(7))
    assert len(ids) == 600  # scored, not refused
    with ledger.read() as conn:
        outputs = [json.loads(o) for o in conn.execute(
            select(Prediction.output_json).where(Prediction.id.in_(ids))).scalars()]
    assert sum(o.get("out_of_domain") == ["x1"] for o in outputs) == 60
    outcome = monitor_flow(str(config))
    shares = [next(r for r in report.suite("drift").results if r.name == "out_of_domain_share")  # type: ignore[union-attr]
              for report in outcome.reports]
    assert [(r.observed, r.threshold, r.passed) for r in shares] == [(0.0, 0.05, True), (0.1, 0.05, False)]
    assert (shares[1].details["flagged"], shares[1].details["predictions"]) == (60, 600)
    assert [a.check for a in outcome.alerts] == ["data_drift"]
    assert any("out_of_domain_share" in finding for finding in outcome.alerts[0].findings)


def test_the_bound_at_its_default_leaves_every_policy_hash_unchanged() -> None:
    from govflow.checks.policy import Policy

    assert Policy.from_mapping({"drift": {"out_of_domain_share_max": 0.05}}).hash() == Policy().hash()
    assert "out_of_domain_share_max" not in Policy().to_dict()["drift"]
    changed = Policy.from_mapping({"drift": {"out_of_domain_share_max": 0.2}})
    assert changed.hash() != Policy().hash() and changed.to_dict()["drift"]["out_of_domain_share_max"] == 0.2
