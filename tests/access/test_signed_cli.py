"""The commands: `govflow approve --sign-with KEY`, refusals with their exit codes, and `govflow verify`
checking each signature (a modified approval is exit 1, naming it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from govflow.governance.ledger.engine import Ledger
from tests.access.test_signatures import allow, gated, keys  # noqa: F401 - the fixture
from tests.ledger.dba import tamper

__all__ = ["keys"]
GOVFLOW = str(Path(sys.executable).parent / "govflow")


def test_sign_refuse_and_verify_through_the_commands(tmp_path: Path, keys: dict[str, Path]) -> None:
    home = tmp_path / "home"
    ledger = Ledger.open(home=home)
    ref = gated(ledger, tmp_path, signed_approvals="required")
    ledger.close()

    def govflow(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([GOVFLOW, "--home", str(home), *args], capture_output=True, text=True, timeout=300)

    unsigned = govflow("approve", ref, "--as", "Ravi Patel", "--role", "risk_officer", "--reason", "ok")
    assert unsigned.returncode == 1
    assert unsigned.stderr.startswith("error: the policy requires signed approvals (policy.signed_approvals: required)")
    stranger = govflow("approve", ref, "--as", "Ravi Patel", "--role", "risk_officer", "--reason", "ok",
                       "--sign-with", str(keys["mallory"]))
    assert stranger.returncode == 1 and "may not sign for 'Ravi Patel@risk_officer'" in stranger.stderr
    signed = govflow("approve", ref, "--as", "Ravi Patel", "--role", "risk_officer", "--reason", "ok",
                     "--sign-with", str(keys["ravi"]))
    assert signed.returncode == 0, signed.stderr
    assert "loans:1 approved by Ravi Patel (risk_officer" in signed.stdout and "; signed with SHA256:" in signed.stdout
    allow(tmp_path, [("Ravi Patel@risk_officer", keys["ravi"]), ("ravi patel@model_owner", keys["dana"])])
    twice = govflow("approve", ref, "--as", "ravi patel", "--role", "model_owner", "--reason", "ok",
                    "--sign-with", str(keys["dana"]))
    assert twice.returncode == 1 and "separation of duties: ravi patel already approved loans:1 as risk_officer" in twice.stderr
    verified = govflow("verify")
    assert verified.returncode == 0, verified.stderr

    ledger = Ledger.open(home=home)
    tamper(ledger, "UPDATE approvals SET decision = 'approve', rationale = 'changed' WHERE approver = 'Ravi Patel'")
    ledger.close()
    broken = govflow("verify")
    assert broken.returncode == 1
    assert "(Ravi Patel@risk_officer): the signature does not verify" in broken.stderr
