"""The dashboard's queries that grow with the log: the gaps counted for unapproved serving, the systems listed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from govflow import canonical as canon
from govflow.governance.ledger.engine import Ledger
from govflow.governance.trail import dashboard_data as dd
from govflow.governance.trail import predictions as preds

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_outside_is_what_no_interval_covers() -> None:
    assert dd.outside([], at(0), at(10)) == [(at(0), at(10))]
    assert dd.outside([(at(2), at(4)), (at(6), None)], at(0), at(10)) == [(at(0), at(2)), (at(4), at(6))]
    assert dd.outside([(at(6), at(8)), (at(1), at(7))], at(0), at(10)) == [(at(0), at(1)), (at(8), at(10))]
    assert dd.outside([(at(-5), None)], at(0), at(10)) == []
    assert dd.outside([(at(-5), at(3)), (at(12), at(14))], at(0), at(10)) == [(at(3), at(10))]


def log(ledger: Ledger, system: str, served_at: datetime, n: int = 1) -> None:
    preds.write_predictions(ledger, [preds.PredictionRecord(
        request_id=f"r{i}", system=system, model_version_id="mv-unregistered", output={"decision": 1}, features={},
        sensitive={}, latency_ms=1.0, served_at=served_at, caller="t") for i in range(n)], require_production=False)


def test_systems_lists_every_system_that_logged_a_prediction(ledger: Ledger) -> None:
    for system in ("zeta", "alpha", "mid", "alpha"):
        log(ledger, system, canon.utc_now())
    with ledger.read() as conn:
        assert dd.systems(conn) == ["alpha", "mid", "zeta"]


def test_unapproved_serving_counts_only_the_predictions_outside_approval(ledger: Ledger) -> None:
    """No stage, no approval: every prediction of the period is outside; those before it are not counted."""
    log(ledger, "s", at(1), 3)
    log(ledger, "s", at(5), 2)
    log(ledger, "s", at(-30), 4)
    version = {"id": "mv-unregistered", "version": 1, "config_snapshot": "{}"}
    with ledger.read() as conn:
        flags = dd._unapproved_flags(conn, "s", [version], at(0), at(10))
    assert [(f.observed, f.message) for f in flags] == [(5.0, (
        "s:1 served 5 prediction(s) while not in production with every required approval (model_owner, risk_officer) in "
        "force, between 2026-01-01 01:00:00 and 2026-01-01 05:00:00 UTC"))]
