"""`govflow verify --json` on a ledger someone altered: the findings as JSON on stdout, exit 1."""

from __future__ import annotations

import json
from pathlib import Path

from govflow.governance.ledger.engine import Ledger
from tests.cli.helpers import govflow
from tests.ledger.anchors.conftest import triggers_off


def test_verify_json_reports_tampering(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ledger = Ledger.open(home=home)
    intact = govflow("--home", str(home), "verify", "--json")
    assert intact.code == 0 and json.loads(intact.out)["intact"] is True
    with triggers_off(ledger), ledger.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE audit_log SET recorded_at = '2000-01-01T00:00:00.000000Z' WHERE seq = 1")
    ledger.close()
    done = govflow("--home", str(home), "verify", "--json")
    assert done.code == 1
    found = json.loads(done.out)  # the JSON alone on stdout; the summary for people on stderr
    assert found["intact"] is False and found["findings"]
    assert found["findings"][0]["seq"] == 1
    assert done.err.startswith(f"TAMPERING FOUND: {len(found['findings'])} finding(s); first broken: entry 1: ")
    assert "(not trusted)" not in done.out
