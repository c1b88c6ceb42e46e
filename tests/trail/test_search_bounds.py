"""What a search reads (#20 item 1): an attribute the system never records is refused before any
scan, a long walk answers in part within its budget and continues from where it stopped, and a
subject is found by the id sent beside an id column too (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import secrets
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert
from typer.testing import CliRunner, Result

from govflow import canonical as canon
from govflow.cli.main import app
from govflow.errors import InputError
from govflow.governance.access import tokens
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import Prediction, PredictionPayload
from govflow.governance.trail.search import parse_query, search_predictions
from govflow.governance.trail.search_scope import UnrecordedAttribute
from govflow.governance.trail.search_walk import Budget
from govflow.web.app import create_app
from tests.trail import test_search as base
from tests.trail.explain_helpers import config_with, in_production, serve
from tests.trail.test_search import log, start, version

trail = base.trail  # the credit and recommender trail of six days (a fixture)


def cli(ledger: Ledger, *args: str) -> Result:
    url = ledger.engine.url.render_as_string(hide_password=False)
    return CliRunner().invoke(app, ["--home", str(ledger.home), "--db", url, *args])


NOT_GENDER = "credit-scoring records no sensitive attribute 'gender'; it records: age_in_years, personal_status_and_sex"


def ids_of(ledger: Ledger, params: dict[str, Any], budget: Budget | None) -> tuple[list[str], int]:
    """Every match, page after page of 2 under ``budget``, and how many pages answered in part."""
    seen, partial, query = [], 0, parse_query({"limit": "2", **params})
    while True:
        with ledger.read() as conn:
            page = search_predictions(conn, query, budget=budget)
        seen += [p["id"] for p in page.predictions]
        partial += page.partial
        if page.next_cursor is None:
            return seen, partial
        query = replace(query, cursor=page.next_cursor)


@pytest.mark.parametrize("params", [{"group": ["age<25"]}, {"decision": "0"}, {"system": "credit", "group": ["age>=40"]},
                                    {"group": ["age<0"]}, {"system": "credit", "decision": "1", "group": ["sex!=male"]}])
def test_pages_under_a_small_budget_are_the_unbounded_search(trail: tuple[Ledger, dict[str, Any]],
                                                             params: dict[str, Any]) -> None:
    ledger, _ = trail
    with ledger.read() as conn:
        whole = [p["id"] for p in search_predictions(conn, parse_query({"limit": "1000", **params}), budget=None).predictions]
    for rows in (1, 3, 7):
        paged, partial = ids_of(ledger, params, Budget(seconds=None, rows=rows))
        assert paged == whole  # nothing skipped, nothing repeated, the same order
        assert partial > 0
    assert ids_of(ledger, params, None) == (whole, 0)


def test_a_partial_page_says_where_it_stopped(trail: tuple[Ledger, dict[str, Any]]) -> None:
    ledger, data = trail
    with ledger.read() as conn:
        page = search_predictions(conn, parse_query({"group": ["age<0"]}), budget=Budget(seconds=None, rows=4))
    newest = sorted(data["rows"], key=lambda r: r["at"], reverse=True)
    answer = page.to_dict()
    assert answer["partial"] is True and answer["predictions"] == []
    assert answer["searched_back_to"] == canon.format_ts(newest[3]["at"])  # the 4th newest row examined
    assert answer["cursor"] == answer["next_cursor"] is not None
    with ledger.read() as conn:
        whole = search_predictions(conn, parse_query({"group": ["age<0"]}))
    assert whole.to_dict() == {"predictions": [], "next_cursor": None, "filters": {"group": ["age<0"]}}
    auditor, _ = tokens.create_token(ledger, role="auditor", label="a", created_by="t")
    with TestClient(create_app(ledger), client=("127.0.0.1", 50000)) as client:
        over_http = client.get("/audit/predictions", params={"group": "age<0", "budget": "4rows"},
                               headers={"Authorization": f"Bearer {auditor}"})
    assert over_http.status_code == 200 and over_http.json() == answer


def test_cli_says_how_to_continue(trail: tuple[Ledger, dict[str, Any]]) -> None:
    ledger, data = trail
    result = cli(ledger, "predictions", "search", "--group", "age<0", "--budget", "5rows")
    last = result.stdout.splitlines()[-1]
    at = canon.format_ts(sorted((r["at"] for r in data["rows"]), reverse=True)[4])
    assert last.startswith(f"searched back to {at} without finishing; continue with --cursor ")
    assert last.endswith(" (or narrow with --since/--until)")
    cursor = last.split("--cursor ")[1].split(" ")[0]
    more = json.loads(cli(ledger, "predictions", "search", "--group", "age<0", "--budget", "5rows",
                                     "--cursor", cursor, "--json").stdout)
    assert more["partial"] is True and more["cursor"] == more["next_cursor"] != cursor
    done = cli(ledger, "predictions", "search", "--group", "age<0", "--budget", "5rows", "--all")
    assert done.stdout.strip() == "no predictions match"
    bad = cli(ledger, "predictions", "search", "--budget", "soon")
    assert isinstance(bad.exception, InputError) and str(bad.exception) == (
        "budget: 'soon' is not seconds or rows examined per page, e.g. 2s or 50000rows "
        "(a walk that spends it first answers in part, with a cursor to continue)")


def test_an_attribute_the_system_never_records_is_refused_at_once(ledger: Ledger) -> None:
    in_production(ledger, config_with())
    serve(ledger, 3)
    result = cli(ledger, "predictions", "search", "--system", "credit-scoring", "--group", "gender=F")
    assert isinstance(result.exception, UnrecordedAttribute) and result.exception.exit_code == 2
    assert str(result.exception) == NOT_GENDER
    also = cli(ledger, "predictions", "search", "--system", "credit-scoring", "--version", "1",
                          "--group", "age_in_years>=18", "--group", "gender<3")
    assert str(also.exception) == NOT_GENDER
    fine = cli(ledger, "predictions", "search", "--system", "credit-scoring", "--group", "age_in_years>=18",
                          "--json")
    assert fine.exit_code == 0 and len(json.loads(fine.stdout)["predictions"]) == 3
    auditor, _ = tokens.create_token(ledger, role="auditor", label="a", created_by="t")
    with TestClient(create_app(ledger), client=("127.0.0.1", 50000)) as client:
        answer = client.get("/audit/predictions", params={"system": "credit-scoring", "group": "gender=F"},
                            headers={"Authorization": f"Bearer {auditor}"})
    assert answer.status_code == 400 and answer.json()["detail"] == NOT_GENDER


def test_a_subject_is_found_by_the_id_sent_beside_an_id_column(ledger: Ledger) -> None:
    mv = version(ledger, "credit")
    ids = log(ledger, [{"system": "credit", "mv": mv, "at": start() + timedelta(hours=i), "output": {"decision": 1},
                        "subject": f"row-{i}"} for i in range(3)])
    with ledger.write("predictions.logged", "test") as w:  # as serving stores an id column's value and the id sent
        digest = secrets.token_hex(32)
        w.conn.execute(insert(PredictionPayload), [dict(payload_hash=digest, salt="s", features_json="{}",
                                                        sensitive_json="{}", subject_id="row-9",
                                                        subject_id_sent="alice", created_at=start())])
        sent = w.add(Prediction, request_id="r", system="credit", model_version_id=mv, output_json='{"decision":0}',
                     latency_ms=1.0, served_at=start() + timedelta(hours=5), caller="test", payload_hash=digest)["id"]
    for subject, expected in (("alice", [sent]), ("row-9", [sent]), ("row-1", [ids[1]]), ("nobody", [])):
        with ledger.read() as conn:
            found = search_predictions(conn, parse_query({"subject_id": subject})).predictions
        assert [p["id"] for p in found] == expected
