"""Fleet monitoring fans out over Prefect's Dask task runner (a local cluster of two worker processes)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from govflow.cli.main import app
from govflow.flows.fleet import run_fleet
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import CheckResultRow, ModelVersion, Run
from govflow.governance.monitoring import incidents
from tests.monitoring.system import applicants, past_midnight, release, serve, write_system

pytestmark = pytest.mark.slow


def test_many_systems_fan_out_over_a_local_dask_cluster(released: tuple[Path, Ledger], tmp_path: Path) -> None:
    config, ledger = released
    other = write_system(tmp_path / "other", name="toy-two")
    release(ledger, other)
    serve(ledger, "toy-screening", applicants(400, seed=8, start_id=80_000), past_midnight(7))
    serve(ledger, "toy-two", applicants(400, seed=9, shift=1.0, start_id=90_000), past_midnight(7))
    ledger.close()  # the workers write to the same SQLite file

    results = run_fleet([str(config), str(other)], window="7d", last=1, workers=2)

    by_system = {r["system"]: r for r in results}
    assert set(by_system) == {"toy-screening", "toy-two"}
    assert (by_system["toy-screening"]["decisions"], by_system["toy-two"]["decisions"]) == (400, 400)
    assert by_system["toy-screening"]["alerts"] == []
    assert {a["check"] for a in by_system["toy-two"]["alerts"]} >= {"data_drift"}  # the drifted one alerts
    assert all(r["worker_pid"] != os.getpid() for r in results)  # monitored in the Dask worker processes
    with ledger.read() as conn:
        tasks = conn.execute(select(Run.id, Run.params_json, Run.parent_run_id).where(Run.name == "monitor_one")).all()
        fleet = conn.execute(select(Run.id).where(Run.name == "fleet-monitor")).scalar_one()
        recorded = conn.execute(select(CheckResultRow.run_id, CheckResultRow.model_version_id).where(
            CheckResultRow.name == "drifted_column_share")).all()
        versions = {f"{s}:{v}": i for i, s, v in conn.execute(select(ModelVersion.id, ModelVersion.system,
                                                                      ModelVersion.version))}
        linked = conn.execute(select(CheckResultRow.model_version_id, CheckResultRow.details_json).where(
            CheckResultRow.run_id.in_([t[0] for t in tasks]))).all()
        opened = incidents.list_incidents(conn, "toy-two")
    assert len(tasks) == 2 and all(json.loads(p)["fleet_run_id"] == fleet for _, p, _ in tasks)
    assert sorted(r for r, _ in recorded) == sorted(t[0] for t in tasks)  # each worker's task recorded its own checks
    # ... each linked to the version it judged (the column, not only the details), as the monitoring flow links them
    assert sorted(str(v) for _, v in recorded) == sorted([versions["toy-screening:1"], versions["toy-two:1"]])
    assert linked and all(mv_id == json.loads(details)["model_version_id"] for mv_id, details in linked)
    assert sum(n for r in results for n in r["check_results"].values()) == len(linked)
    assert len(opened) == 1 and opened[0].opened_by_run_id in {t[0] for t in tasks}
    shown = CliRunner().invoke(app, ["--home", str(ledger.home), "trace", "model", "toy-two:1"])
    assert "FAILED: drift drifted_column_share" in shown.output, shown.output
