"""Evidently's drift report as a govflow document (#18 item 2): titled with system, version and window,
headed by govflow, stored with the version, named by the monitor command, found by `latest`,
written by `govflow docs` and shipped in the auditor's bundle."""

from __future__ import annotations

import zipfile
from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner, Result

from govflow.cli.main import app
from govflow.governance.ledger.engine import Ledger
from govflow.governance.reports.documents import drift_report
from govflow.governance.reports.documents.store import history
from tests.monitoring.system import applicants, past_midnight, serve

SYSTEM = "toy-screening"


def _cli(ledger: Ledger, *args: str) -> Result:
    return CliRunner().invoke(app, ["--home", str(ledger.home), *args])


def test_a_drift_alerts_report_is_a_titled_stored_document(released: tuple[Path, Ledger], tmp_path: Path) -> None:
    config, ledger = released
    assert drift_report.latest(ledger, SYSTEM) is None  # no alert yet, no report
    serve(ledger, SYSTEM, applicants(600, seed=1, start_id=10_000), past_midnight(14))
    serve(ledger, SYSTEM, applicants(600, seed=2, shift=1.0, start_id=20_000), past_midnight(7))

    result = _cli(ledger, "run", "monitor", "-c", str(config), "--window", "7d")
    assert result.exit_code == 1, result.output

    document = drift_report.latest(ledger, SYSTEM)
    assert document is not None and document.label == "toy-screening:1"
    start = past_midnight(7).replace(hour=0, minute=0, second=0, microsecond=0)
    window = f"{start:%Y-%m-%d}..{start + timedelta(days=6):%Y-%m-%d}"
    assert document.name == f"drift-report-toy-screening-v1-{start:%Y-%m-%d}.html"
    # the monitor command names it, with the stored file
    assert f"  drift report: {document.name} ({document.path})" in result.output.splitlines()

    page = Path(document.path).read_text(encoding="utf-8")
    assert f"<title>Drift report: toy-screening:1, {window}</title>" in page
    header = page.split('<header id="govflow-header"', 1)[1].split("</header>", 1)[0]
    for fact in ("govflow drift report", "<b>System</b>: toy-screening", "<b>Version</b>: toy-screening:1",
                 f"<b>Window</b>: {window}", "<b>Drifted columns</b>: 2 of ", "(bound ≤ 0.3)", ", window 600"):
        assert fact in header, (fact, header)
    assert page.index("govflow-header") < page.index('id="root_metric_')  # above Evidently's own content

    with ledger.read() as conn:
        editions = [e for e in history(conn, document.model_version_id) if e.name == document.name]
    assert [(e.artifact_id, e.occasion) for e in editions] == [(document.artifact_id, "monitor")]

    written = _cli(ledger, "docs", "toy-screening:1", "--out", str(tmp_path / "docs"))
    assert written.exit_code == 0, written.output
    assert (tmp_path / "docs" / f"drift-report-{start:%Y-%m-%d}.html").read_bytes() == Path(document.path).read_bytes()

    bundle = tmp_path / "bundle.zip"
    exported = _cli(ledger, "export", "toy-screening:1", "--format", "bundle", "-o", str(bundle))
    assert exported.exit_code == 0, exported.output
    with zipfile.ZipFile(bundle) as archive:
        assert archive.read(f"documents/{document.name}") == Path(document.path).read_bytes()
