"""`govflow run monitor --json` names the drift report it wrote: each window's entry carries its stored
document (artifact id, name, sha256 of the bytes, path), null where no report was kept."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from typer.testing import CliRunner

from govflow.cli.main import app
from govflow.governance.ledger.engine import Ledger
from govflow.governance.reports.documents import drift_report
from tests.monitoring.system import applicants, past_midnight, serve

SYSTEM = "toy-screening"


def test_monitor_json_names_the_drift_report_it_wrote(released: tuple[Path, Ledger]) -> None:
    config, ledger = released
    serve(ledger, SYSTEM, applicants(600, seed=1, start_id=10_000), past_midnight(14))
    serve(ledger, SYSTEM, applicants(600, seed=2, shift=1.0, start_id=20_000), past_midnight(7))

    result = CliRunner().invoke(app, ["--home", str(ledger.home), "run", "monitor", "-c", str(config), "--window", "7d",
                                      "--no-incident", "--json"])
    assert result.exit_code == 1, result.output  # the drift alert
    found = json.loads(result.stdout)
    written = [entry["drift_report"] for entry in found["reports"] if entry["drift_report"] is not None]
    assert len(written) == 1, found["reports"]
    document = drift_report.latest(ledger, SYSTEM)
    assert document is not None
    assert written[0] == document.to_dict()
    assert set(written[0]) == {"artifact_id", "name", "version", "model_version_id", "sha256", "created_at", "path"}
    assert written[0]["name"] == f"drift-report-toy-screening-v1-{past_midnight(7):%Y-%m-%d}.html"
    assert hashlib.sha256(Path(written[0]["path"]).read_bytes()).hexdigest() == written[0]["sha256"]
    drifted = [entry for entry in found["reports"]
               if any(s["kind"] == "drift" and not s["passed"] for s in entry["suites"])]
    assert [entry["drift_report"] for entry in drifted] == written  # the report is on the window that drifted
