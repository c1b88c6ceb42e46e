"""The PostgreSQL fixtures themselves: a visible skip without a server, a failure under CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOWHERE = "postgresql://postgres@127.0.0.1:1/postgres"


def run_one_pg_test(ci: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GOVFLOW_TEST_PG_URL": NOWHERE, "CI": ci}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         "tests/ledger/test_ledger.py::test_open_creates_genesis_and_reopen_keeps_it"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(("ci", "code", "outcome"), [("", 0, "1 passed, 1 skipped"), ("true", 1, "1 passed, 1 error")])
def test_unreachable_server_skips_visibly_or_fails_under_ci(ci: str, code: int, outcome: str) -> None:
    result = run_one_pg_test(ci)
    assert result.returncode == code, result.stdout[-2000:]
    assert outcome in result.stdout
    assert f"PostgreSQL not reachable at {NOWHERE} (set GOVFLOW_TEST_PG_URL): connection failed:" in result.stdout
    if ci:
        assert "CI=true requires PostgreSQL" in result.stdout
