"""The bundle and PROV export on both backends (PostgreSQL reads in one repeatable-read snapshot)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from govflow.checks.policy import Policy
from govflow.governance.ledger.engine import Ledger
from govflow.governance.registry import versions as registry
from govflow.governance.reports.bundle import build_bundle, write_prov
from tests.gate_record import record_completed_gate

CONFIG = {"system": {"name": "loans", "intended_purpose": "Score loan applications of natural persons", "annex_iii": "5(b)"},
          "policy": {"approvals": ["risk_officer"]}}


def registered(ledger: Ledger) -> str:
    """A version registered, gated and approved through the registry's own functions."""
    version = registry.register_version(
        ledger, system="loans", model_data=b"model bytes", fingerprint="fp1:" + "ab" * 32, training_run_id=None,
        hyperparams={"C": 1.0}, config_snapshot=CONFIG, by="ci",
        attachments=[registry.Attachment("model_card", "model-card-loans-v1.md", b"# Model card\n", "text/markdown")])
    record_completed_gate(ledger, version, reasons=["all critical results passed"],
                          policy=Policy(approvals=["risk_officer"]).to_dict())
    registry.approve(ledger, str(version), approver="Ravi Patel", role="risk_officer", reason="reviewed",
                     required_roles=["risk_officer"])
    return str(version)


def test_bundle_on_each_backend_verifies(ledger: Ledger, tmp_path: Path) -> None:
    ref = registered(ledger)
    summary = build_bundle(ledger, ref, tmp_path / "b.zip")
    assert (summary.subject, summary.head_seq) == ("loans:1", ledger.head()[0])
    with zipfile.ZipFile(summary.path) as archive:
        archive.extractall(tmp_path / "b")
        names = set(archive.namelist())
    assert "documents/model-card-loans-v1.md" in names
    done = subprocess.run([sys.executable, "-I", "-S", "verify_bundle.py"], cwd=tmp_path / "b", capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
    message = write_prov(ledger, ref, tmp_path / "p.json")
    assert message.startswith(f"wrote the lineage of loans:1 as W3C PROV-JSON to {tmp_path / 'p.json'}: ")
