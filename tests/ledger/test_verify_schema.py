"""The schema itself (issue #13, item 2): verify compares the live schema with what the migrations create.

Dropped, altered or disabled append-only triggers, a dropped NOT NULL and a dropped key are
tampering (exit 1, naming what), even when no row was changed through the gap they opened.
"""

from __future__ import annotations

import pytest

from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.verify import verify
from tests.ledger.dba import drop_trigger, make_nullable
from tests.ledger.helpers import db_url, drop_triggers, execute, govflow, record_step


def findings(ledger: Ledger) -> list[str]:
    return [str(f) for f in verify(ledger).findings]


def test_intact_schema(ledger: Ledger) -> None:
    record_step(ledger)
    assert findings(ledger) == []


def test_dropped_trigger(ledger: Ledger) -> None:
    name = "api_tokens_no_delete" if ledger.is_sqlite else "api_tokens_append_only"
    drop_trigger(ledger, name, "api_tokens")
    assert findings(ledger) == [
        f"outside the chain: table api_tokens: trigger {name} is missing: dropped (the table is no longer append-only)"]


def test_every_trigger_dropped_is_tampering_on_the_command_line(ledger: Ledger) -> None:
    record_step(ledger)
    drop_triggers(ledger)
    result = govflow("verify", home=ledger.home, db=db_url(ledger))
    assert result.returncode == 1, result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith("TAMPERING FOUND: ")
    assert "trigger audit_log_" in result.stderr or "... and" in result.stderr
    assert "is missing: dropped (the table is no longer append-only)" in first


def test_dropped_not_null(ledger: Ledger) -> None:
    make_nullable(ledger, "stage_changes")
    assert findings(ledger) == [
        "outside the chain: table stage_changes: column audit_seq is no longer NOT NULL: its constraint was dropped"]


def test_dropped_unique_key(ledger: Ledger) -> None:
    execute(ledger, "DROP INDEX ux_model_versions_system_version")
    assert findings(ledger) == [
        "outside the chain: table model_versions: unique key (system, version) is missing: dropped"]


def test_trigger_made_harmless(ledger: Ledger) -> None:
    """Still there by name, but it no longer refuses anything."""
    if ledger.is_sqlite:
        drop_trigger(ledger, "decisions_no_update", "decisions")
        execute(ledger, "CREATE TRIGGER decisions_no_update BEFORE UPDATE ON decisions WHEN 0 "
                "BEGIN SELECT RAISE(ABORT, 'govflow ledger: decisions is append-only (UPDATE and DELETE are refused)'); END")
        name = "decisions_no_update"
    else:
        execute(ledger, "CREATE OR REPLACE FUNCTION govflow_decisions_append_only() RETURNS trigger LANGUAGE plpgsql "
                "AS $$ BEGIN RETURN NEW; END $$")
        name = "decisions_append_only"
    problems = findings(ledger)
    assert f"outside the chain: table decisions: trigger {name} differs from the one the migrations create: altered" in problems


@pytest.mark.postgres
def test_disabled_trigger_postgres(pg_ledger: Ledger) -> None:
    execute(pg_ledger, "ALTER TABLE approvals DISABLE TRIGGER approvals_append_only")
    assert findings(pg_ledger) == [
        "outside the chain: table approvals: trigger approvals_append_only differs from the one the migrations create: altered"]


def test_added_trigger(ledger: Ledger) -> None:
    if ledger.is_sqlite:
        execute(ledger, "CREATE TRIGGER sneaky AFTER INSERT ON decisions BEGIN SELECT 1; END")
    else:
        execute(ledger, "CREATE TRIGGER sneaky AFTER INSERT ON decisions FOR EACH ROW "
                "EXECUTE FUNCTION govflow_decisions_append_only()")
    assert findings(ledger) == [
        "outside the chain: table decisions: trigger sneaky is not one the migrations create: added"]
