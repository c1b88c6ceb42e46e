"""A monitored system for the dashboard's browser tests and its screenshot (docs/screenshots_dashboard.py):
toy-screening (tests/monitoring/system.py) trained, gated, approved and promoted through the real flows,
a quiet week then a drifted week served through the real serving path, `govflow run monitor`'s flow
run over both (the drifted week alerts and opens an incident), then the outcomes of both weeks
attached by applicant id, as `govflow outcomes` does."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from govflow.governance.ledger.engine import Ledger
from govflow.governance.trail.outcomes import attach_outcomes
from tests.monitoring.system import applicants, copy_of, past_midnight, serve, template

SYSTEM = "toy-screening"


def build(root: Path) -> tuple[Ledger, Path, dict[str, object]]:
    """``(ledger, config path, the monitoring outcome as a dict)``; recording points at the ledger."""
    from govflow.flows.monitor import monitor_flow

    config, ledger = copy_of(template(root / "templates"), root / "system")
    quiet = applicants(600, seed=1, start_id=10_000)
    drifted = applicants(600, seed=2, shift=1.0, start_id=20_000)
    serve(ledger, SYSTEM, quiet, past_midnight(14))
    serve(ledger, SYSTEM, drifted, past_midnight(7))
    outcome = monitor_flow(str(config))
    both = pd.concat([quiet, drifted])[["applicant_id", "label"]]
    attach_outcomes(ledger, system=SYSTEM, frame=both, target="label", id_column="applicant_id", source="outcomes.csv")
    return ledger, config, outcome.to_dict()
