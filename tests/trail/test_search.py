"""Searching the prediction log: each filter, on SQLite and PostgreSQL, and cursor pagination."""

from __future__ import annotations

import json
import secrets
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert

from govflow import canonical as canon
from govflow.errors import InputError
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import Prediction, PredictionPayload
from govflow.governance.ledger.verify import payload_hash_v2_of
from govflow.governance.registry import versions as registry
from govflow.governance.trail import retention
from govflow.governance.trail.search import PredictionQuery, parse_query, search_predictions


def start() -> datetime:
    from datetime import UTC

    return datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def version(ledger: Ledger, system: str) -> str:
    ref = registry.register_version(ledger, system=system, model_data=secrets.token_bytes(16), fingerprint="fp1:x",
                                    training_run_id=None, hyperparams={}, config_snapshot={}, attachments=[], by="test")
    return ref.id


def log(ledger: Ledger, rows: list[dict[str, Any]]) -> list[str]:
    """Predictions and their payloads, as the prediction log writes them (one transaction)."""
    ids = []
    with ledger.write("predictions.logged", "test") as w:
        payloads = []
        for row in rows:
            salt = secrets.token_hex(16)
            features = canon.canonical(row.get("features", {})).decode()
            sensitive = canon.canonical(row.get("sensitive", {})).decode()
            digest = payload_hash_v2_of(salt, features, sensitive, row.get("subject"), None)
            payloads.append(dict(payload_hash=digest, salt=salt, features_json=features, sensitive_json=sensitive,
                                 subject_id=row.get("subject"), created_at=row["at"]))
            added = w.add(Prediction, request_id=row.get("request", secrets.token_hex(8)), system=row["system"],
                          model_version_id=row["mv"], output_json=canon.canonical(row["output"]).decode(),
                          latency_ms=1.0, served_at=row["at"], caller="test", payload_hash=digest)
            ids.append(added["id"])
        w.conn.execute(insert(PredictionPayload), payloads)
    return ids


@pytest.fixture
def trail(ledger: Ledger) -> tuple[Ledger, dict[str, Any]]:
    """Credit decisions of versions 1 and 2 over six days, and a recommender's lists."""
    v1, v2, rec = version(ledger, "credit"), version(ledger, "credit"), version(ledger, "movies")
    rows, t0 = [], start()
    for i in range(24):
        rows.append({"system": "credit", "mv": v1 if i < 8 else v2, "at": t0 + timedelta(hours=6 * i),
                     "output": {"decision": i % 2, "score": round(i / 24, 4),
                                **({"out_of_domain": ["amount"] if i % 7 == 0 else ["amount", "age"]} if i % 7 < 2 else {})},
                     "sensitive": {"sex": "female" if i % 3 == 0 else "male", "age": 20 + i},
                     "features": {"amount": 100 * i}, "subject": f"s{i % 5}", "request": f"req-{i}"})
    for i in range(6):
        rows.append({"system": "movies", "mv": rec, "at": t0 + timedelta(hours=6 * i, minutes=1),
                     "output": {"items": ["50", str(10 + i)] if i % 2 else [str(10 + i)], "scores": [1.0], "cold_start": False},
                     "features": {"user_id": str(i % 3)}, "sensitive": {"gender": "F" if i % 2 else "M"}})
    ids = log(ledger, rows)
    return ledger, {"ids": ids, "rows": rows, "v1": v1, "v2": v2}


def found(ledger: Ledger, **params: Any) -> list[dict[str, Any]]:
    with ledger.read() as conn:
        return search_predictions(conn, parse_query({"limit": "1000", **params})).predictions


def matching(data: dict[str, Any], keep: Any) -> set[str]:
    return {pid for pid, row in zip(data["ids"], data["rows"]) if keep(row)}


def test_each_filter_answers_exactly_the_matching_predictions(trail: tuple[Ledger, dict[str, Any]]) -> None:
    ledger, data = trail
    t0 = start()
    cases: list[tuple[dict[str, Any], Any]] = [
        ({"system": "credit"}, lambda r: r["system"] == "credit"),
        ({"system": "credit", "version": "2"}, lambda r: r["mv"] == data["v2"]),
        ({"since": canon.format_ts(t0 + timedelta(days=2)), "until": canon.format_ts(t0 + timedelta(days=4))},
         lambda r: t0 + timedelta(days=2) <= r["at"] < t0 + timedelta(days=4)),
        ({"decision": "favourable"}, lambda r: r["output"].get("decision") == 1),
        ({"decision": "0"}, lambda r: r["output"].get("decision") == 0),
        ({"score_min": "0.25", "score_max": "0.5"}, lambda r: 0.25 <= r["output"].get("score", -1) <= 0.5),
        ({"group": ["sex=female"]}, lambda r: r["sensitive"].get("sex") == "female"),
        ({"group": ["age<25"]}, lambda r: r["sensitive"].get("age", 99) < 25),
        ({"group": ["sex=female", "age>=30"]}, lambda r: r["sensitive"].get("sex") == "female" and r["sensitive"]["age"] >= 30),
        ({"group": ["sex!=female"]}, lambda r: r["sensitive"].get("sex") == "male"),
        ({"group": ["age=23"]}, lambda r: r["sensitive"].get("age") == 23),
        ({"subject_id": "s3"}, lambda r: r.get("subject") == "s3"),
        ({"request_id": "req-7"}, lambda r: r.get("request") == "req-7"),
        ({"item": "50"}, lambda r: "50" in r["output"].get("items", [])),
        ({"user": "1"}, lambda r: r["features"].get("user_id") == "1"),
        ({"out_of_domain": "any"}, lambda r: "out_of_domain" in r["output"]),
        ({"out_of_domain": "age"}, lambda r: "age" in r["output"].get("out_of_domain", [])),
        ({"system": "credit", "version": "1", "decision": "0", "group": ["sex=female", "age<25"]},
         lambda r: r["mv"] == data["v1"] and r["output"]["decision"] == 0 and r["sensitive"]["sex"] == "female"
         and r["sensitive"]["age"] < 25),
    ]
    for params, keep in cases:
        expected = matching(data, keep)
        assert expected, f"the case {params} must match something to prove anything"
        assert {p["id"] for p in found(ledger, **params)} == expected, params


def test_newest_first_and_the_cursor_walks_every_match_once(trail: tuple[Ledger, dict[str, Any]]) -> None:
    ledger, data = trail
    seen: list[dict[str, Any]] = []
    query = PredictionQuery(system="credit", limit=5)
    pages = 0
    with ledger.read() as conn:
        while True:
            page = search_predictions(conn, query)
            seen += page.predictions
            pages += 1
            if page.next_cursor is None:
                break
            query = replace(query, cursor=page.next_cursor)
    assert pages == 5  # 24 matches, 5 a page
    assert [p["id"] for p in seen] == [pid for pid, r in sorted(zip(data["ids"], data["rows"]),
                                       key=lambda x: x[1]["at"], reverse=True) if r["system"] == "credit"]
    assert seen[0]["output"] == {"decision": 1, "score": round(23 / 24, 4)}


def test_a_purged_payload_no_longer_matches_a_person(trail: tuple[Ledger, dict[str, Any]]) -> None:
    ledger, _ = trail
    assert len(found(ledger, subject_id="s1")) == 5
    retention.erase_subject(ledger, "s1", reason="erasure request", by="dpo")
    assert found(ledger, subject_id="s1") == []
    assert len(found(ledger, system="credit")) == 24  # the chained predictions stay searchable


@pytest.mark.parametrize(("params", "message"), [
    ({"since": "yesterday"}, "since: an RFC 3339 time with a zone, e.g. 2026-01-31T00:00:00Z, not 'yesterday'"),
    ({"until": "2026-01-01T00:00:00"}, "until: an RFC 3339 time with a zone, e.g. 2026-01-31T00:00:00Z, not '2026-01-01T00:00:00'"),
    ({"since": "0001-01-01T00:00:00+01:00"}, "since: an RFC 3339 time with a zone"),
    ({"version": "2"}, "version: give the system too (--system NAME): version numbers count per system"),
    ({"system": "credit", "version": "two"}, "version: 'two' is not a version number (1, 2, ...)"),
    ({"decision": "maybe"}, "decision: 'maybe' is not 0, 1, favourable or unfavourable"),
    ({"score_min": "high"}, "score_min: 'high' is not a number"),
    ({"score_min": "0.9", "score_max": "0.1"}, "score_min 0.9 is above score_max 0.1: nothing can match; swap them"),
    ({"group": ["female"]}, "group: 'female' is not NAME=VALUE (or NAME<VALUE, <=, >, >=, !=)"),
    ({"group": ["age<young"]}, "group: 'age<young': < compares numbers, and 'young' is not one"),
    ({"limit": "5000"}, "limit: between 1 and 1000, not 5000"),
    ({"limit": "NaN"}, "limit: between 1 and 1000, not NaN"),
    ({"cursor": "nonsense"}, "cursor: not a cursor this search returned (copy next_cursor from the previous page)"),
])
def test_bad_filters_say_what_is_wrong_and_how_to_write_them(params: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_query(params)
    assert str(caught.value).startswith(message)


def test_an_unknown_version_is_named(trail: tuple[Ledger, dict[str, Any]]) -> None:
    ledger, _ = trail
    with pytest.raises(InputError) as caught:
        found(ledger, system="credit", version="9")
    assert str(caught.value) == "credit has no version 9 (versions: 1, 2)"


def test_the_answer_names_its_filters(trail: tuple[Ledger, dict[str, Any]]) -> None:
    ledger, _ = trail
    with ledger.read() as conn:
        page = search_predictions(conn, parse_query({"system": "credit", "group": ["age<25"], "decision": "0"}))
    assert json.loads(json.dumps(page.to_dict()["filters"])) == {"system": "credit", "decision": 0, "group": ["age<25"]}


@pytest.mark.parametrize(("params", "index"), [
    ({"subject_id": "s3"}, "ix_prediction_payloads_subject_id"),
    ({"request_id": "req-7"}, "ix_predictions_request_id"),
])
def test_postgresql_answers_each_filter_from_its_index(pg_ledger: Ledger, params: dict[str, Any], index: str) -> None:
    """The subject and request filters are answered from their B-trees (0001, 0006).
    (On an empty table the planner rightly prefers a scan in time order: sequential scans are switched
    off and the time indexes dropped, in a transaction rolled back.)"""
    from sqlalchemy import text

    from govflow.governance.trail.search import statement_for

    with pg_ledger.engine.connect() as conn:
        transaction = conn.begin()
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        for name in ("ix_predictions_system_served_at", "ix_predictions_served_at"):
            conn.execute(text(f"DROP INDEX IF EXISTS {name}"))
        statement, values = statement_for(conn, parse_query(params), prefix="EXPLAIN ")
        plan = "\n".join(row[0] for row in conn.execute(statement, values))
        transaction.rollback()
    assert index in plan, plan


def test_sqlite_finds_a_users_lists_from_its_index(sqlite_ledger: Ledger) -> None:
    from govflow.governance.trail.search import statement_for

    with sqlite_ledger.read() as conn:
        statement, values = statement_for(conn, parse_query({"user": "6"}), prefix="EXPLAIN QUERY PLAN ")
        plan = "\n".join(str(row[-1]) for row in conn.execute(statement, values))
    assert "ix_payloads_search_user" in plan, plan
