"""Migrations 0008 and 0010 on PostgreSQL: each search filter they index is answered from its index,
and an existing ledger (rows with a NUL included) upgrades to them with its chain still verifying."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.verify import verify
from govflow.governance.trail.search import parse_query, statement_for
from tests.trail.test_search import found, log, start, version

pytestmark = pytest.mark.postgres
NEW = ("ix_predictions_search_items", "ix_predictions_search_ood", "ix_predictions_search_ood_served_at",
       "ix_predictions_search_score", "ix_payloads_search_user_pg", "ix_payloads_search_sensitive")


def plan_of(ledger: Ledger, params: dict[str, Any]) -> str:
    """The plan with sequential scans off and the time indexes dropped (rolled back): on a near-empty
    table the planner rightly prefers a scan in time order, which would prove nothing."""
    with ledger.engine.connect() as conn:
        transaction = conn.begin()
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        for name in ("ix_predictions_system_served_at", "ix_predictions_served_at"):
            conn.execute(text(f"DROP INDEX IF EXISTS {name}"))
        statement, values = statement_for(conn, parse_query(params), prefix="EXPLAIN ")
        plan = "\n".join(row[0] for row in conn.execute(statement, values))
        transaction.rollback()
    return plan


@pytest.mark.parametrize(("params", "index"), [
    ({"item": "50"}, "ix_predictions_search_items"),
    ({"item": "5\x000"}, "ix_predictions_search_items"),
    ({"out_of_domain": "age"}, "ix_predictions_search_ood"),
    ({"out_of_domain": "any"}, "ix_predictions_search_ood_served_at"),
    ({"score_min": "0.99", "score_max": "1"}, "ix_predictions_search_score"),
    ({"user": "6"}, "ix_payloads_search_user_pg"),
    ({"group": ["sex=female"]}, "ix_payloads_search_sensitive"),
    ({"group": ["sex=f\x00"], "system": "credit"}, "ix_payloads_search_sensitive"),
])
def test_each_filter_is_answered_from_its_index(pg_ledger: Ledger, params: dict[str, Any], index: str) -> None:
    assert index in plan_of(pg_ledger, params)


def _downgrade_to_0007(ledger: Ledger) -> None:
    from alembic import command
    from alembic.config import Config

    from govflow.governance.ledger.engine import MIGRATIONS

    with ledger.engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        command.downgrade(config, "0007")


def _indexes(ledger: Ledger) -> set[str]:
    with ledger.engine.connect() as conn:
        return set(conn.execute(text("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")).scalars())


def test_a_ledger_at_0007_with_odd_rows_upgrades_and_still_verifies(pg_url: str, tmp_path: Path) -> None:
    ledger = Ledger.open(pg_url, home=tmp_path / "home")
    movies = version(ledger, "movies")
    log(ledger, [{"system": "movies", "mv": movies, "at": start(), "request": "r1",
                  "output": {"items": ["5\x000", "7"], "score": 10 ** 400, "out_of_domain": ["u\x00"]},
                  "features": {"user_id": "u\x001"}, "sensitive": {"gender": "F\x00"}}])
    _downgrade_to_0007(ledger)
    assert not set(NEW) & _indexes(ledger)
    ledger.close()
    ledger = Ledger.open(pg_url, home=tmp_path / "home")  # migrated on open
    try:
        assert set(NEW) <= _indexes(ledger)
        movies_again = version(ledger, "movies")  # and rows with a NUL are still logged once indexed
        log(ledger, [{"system": "movies", "mv": movies_again, "at": start(), "request": "r2",
                      "output": {"items": ["5\x000"], "score": 0.5}, "features": {"user_id": "u\x001"}}])
        report = verify(ledger)
        assert report.findings == [], report.findings
        assert {p["request_id"] for p in found(ledger, item="5\x000")} == {"r1", "r2"}
        assert {p["request_id"] for p in found(ledger, user="u\x001")} == {"r1", "r2"}
        assert {p["request_id"] for p in found(ledger, score_min="1e300")} == {"r1"}
        assert {p["request_id"] for p in found(ledger, out_of_domain="u\x00")} == {"r1"}
        assert {p["request_id"] for p in found(ledger, group="gender=F\x00")} == {"r1"}
    finally:
        ledger.close()


def _rows_read(ledger: Ledger, params: dict[str, Any]) -> int:
    """How many rows the search's plan read and threw away (EXPLAIN ANALYZE's 'Rows Removed by Filter')."""
    import re

    with ledger.engine.connect() as conn:
        statement, values = statement_for(conn, parse_query(params), prefix="EXPLAIN ANALYZE ")
        plan = "\n".join(row[0] for row in conn.execute(statement, values))
    return sum(int(n) for n in re.findall(r"Rows Removed by Filter: (\d+)", plan))


def test_an_old_version_and_a_missing_item_are_found_without_walking_the_newer_rows(pg_ledger: Ledger) -> None:
    """The planner takes matches as spread evenly over time: newest first, it would walk every row
    of the newer version before the old one's first, and every row when an item (or a group) is in none."""
    old, new = version(pg_ledger, "credit"), version(pg_ledger, "credit")
    with pg_ledger.engine.begin() as conn:
        conn.exec_driver_sql("""INSERT INTO predictions (id, request_id, system, model_version_id, output_json, latency_ms,
                                 served_at, caller, payload_hash, audit_seq)
            SELECT lpad(to_hex(g), 36, '0'), 'r' || g, 'credit', CASE WHEN g <= 100000 THEN %(old)s ELSE %(new)s END,
                   CASE WHEN g %% 2 = 0 THEN '{"items":["' || (g %% 500) || '"],"score":0.5}' ELSE '{"score":0.5}' END,
                   1.0, TIMESTAMPTZ '2026-01-01' + g * INTERVAL '1 second', 'test', md5(g::text), 1
            FROM generate_series(1, 200000) g""", {"old": old, "new": new})
        conn.exec_driver_sql("""INSERT INTO prediction_payloads (payload_hash, salt, features_json, sensitive_json, created_at)
            SELECT md5(g::text), 's', '{}', '{"sex":"' || CASE WHEN g %% 50000 = 0 THEN 'other' ELSE 'female' END || '"}',
                   TIMESTAMPTZ '2026-01-01' FROM generate_series(1, 200000) g""")
        conn.execute(text("ANALYZE predictions"))
        conn.execute(text("ANALYZE prediction_payloads"))
    read = {name: _rows_read(pg_ledger, params) for name, params in (
        ("version", {"system": "credit", "version": "1"}), ("item", {"item": "nowhere"}), ("score", {"score_min": "2"}),
        ("group", {"group": ["sex=male"]}), ("rare group", {"group": ["sex=other"]}))}
    assert read == {"version": 0, "item": 0, "score": 0, "group": 0, "rare group": 0}
    assert len(found(pg_ledger, system="credit", version="1")) == 1000
    assert found(pg_ledger, item="nowhere") == []
    assert found(pg_ledger, group="sex=male") == []
    assert [p["request_id"] for p in found(pg_ledger, group="sex=other")] == ["r200000", "r150000", "r100000", "r50000"]
    assert len(found(pg_ledger, group="sex=female")) == 1000  # a common group: the time-ordered walk
