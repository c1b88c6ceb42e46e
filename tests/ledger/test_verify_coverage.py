"""Rows the chain does not cover (issue #13, item 1): `audit_seq` made NULL-able, then rows with none.

Such a row is tampering for `verify` (exit 1, naming the table and the row), and nothing that derives
current state reads it: a forged API token does not authenticate, a forged stage does not put a
version in production (on PostgreSQL NULLs sort first under ``ORDER BY audit_seq DESC``).
"""

from __future__ import annotations

from govflow import canonical as canon
from govflow.governance.access import tokens
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import Decision, ModelVersion
from govflow.governance.ledger.verify import verify
from govflow.governance.registry import versions as registry
from tests.ledger.dba import insert, make_nullable
from tests.ledger.helpers import db_url, govflow

NOW = "2026-11-29 20:30:40.000000"


def blocked_version(ledger: Ledger) -> str:
    """credit:1, its gate blocked, never staged: not in production."""
    digest = ledger.artifacts.put(b"a fitted model")
    with ledger.write("model.registered", "model credit:1") as w:
        mv = w.add(ModelVersion, system="credit", version=1, fingerprint="fp1:" + "a" * 64, artifact_hash=digest,
                   artifact_uri=ledger.artifacts.uri(digest), hyperparams_json="{}", config_snapshot="", created_at=canon.utc_now())
        w.add(Decision, model_version_id=mv["id"], outcome="block", reasons_json='["fairness"]', policy_hash="p" * 64,
              decided_at=canon.utc_now())
    return str(mv["id"])


def findings(ledger: Ledger) -> list[str]:
    return [str(f) for f in verify(ledger).findings]


def test_forged_token_with_no_audit_seq(ledger: Ledger) -> None:
    make_nullable(ledger, "api_tokens")
    secret = "gft_forged-secret"
    insert(ledger, "api_tokens", id="forged-token", role="auditor", token_hash=tokens.hash_secret(secret),
           label="insider", created_at=NOW, created_by="dba", audit_seq=None)
    with ledger.read() as conn:
        assert tokens.verify_token(conn, secret) is None
        assert tokens.find_token(conn, secret) is None
        assert [t["id"] for t in tokens.list_tokens(conn)] == []
    found = findings(ledger)
    assert "outside the chain: table api_tokens: row id=forged-token has no audit_seq: not covered by the chain" in found
    result = govflow("verify", home=ledger.home, db=db_url(ledger))
    assert result.returncode == 1, result.stderr
    assert "table api_tokens: row id=forged-token has no audit_seq: not covered by the chain" in result.stderr


def test_forged_production_stage_and_decision(ledger: Ledger) -> None:
    mv_id = blocked_version(ledger)
    make_nullable(ledger, "stage_changes")
    make_nullable(ledger, "decisions")
    insert(ledger, "stage_changes", id="forged-stage", model_version_id=mv_id, stage="production", at=NOW, by="dba",
           reason="x", audit_seq=None)
    insert(ledger, "decisions", id="forged-decision", model_version_id=mv_id, run_id=None, outcome="pass",
           reasons_json="[]", policy_hash="p" * 64, decided_at=NOW, audit_seq=None)
    with ledger.read() as conn:
        assert registry.current_stage(conn, mv_id) is None
        assert registry.production_version(conn, "credit") is None
        decision = registry.latest_decision(conn, mv_id)
        assert decision is not None and decision["outcome"] == "block"
    assert set(findings(ledger)) == {
        "outside the chain: table decisions: column audit_seq is no longer NOT NULL: its constraint was dropped",
        "outside the chain: table stage_changes: column audit_seq is no longer NOT NULL: its constraint was dropped",
        "outside the chain: table decisions: row id=forged-decision has no audit_seq: not covered by the chain",
        "outside the chain: table stage_changes: row id=forged-stage has no audit_seq: not covered by the chain",
    }
    result = govflow("verify", home=ledger.home, db=db_url(ledger))
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("TAMPERING FOUND: 4 finding(s)")


def test_row_claiming_an_entry_the_chain_does_not_have(ledger: Ledger) -> None:
    mv_id = blocked_version(ledger)
    insert(ledger, "stage_changes", id="far-future", model_version_id=mv_id, stage="production", at=NOW, by="dba",
           reason="x", audit_seq=999)
    assert findings(ledger) == [
        "entry 999: table stage_changes: row id=far-future claims entry 999, which the chain does not have"]



def test_forged_stage_is_not_shown_as_history_or_current_stage(ledger: Ledger) -> None:
    """trace, like every view of a version, reads only what the chain covers."""
    mv_id = blocked_version(ledger)
    make_nullable(ledger, "stage_changes")
    insert(ledger, "stage_changes", id="forged-stage", model_version_id=mv_id, stage="production", at=NOW, by="dba",
           reason="x", audit_seq=None)
    result = govflow("trace", "model", "credit:1", "--json", home=ledger.home, db=db_url(ledger))
    assert result.returncode == 0, result.stderr
    assert "forged-stage" not in result.stdout and '"production"' not in result.stdout
