"""The auditor API: /audit/predictions takes the search filters, /audit/predictions/{id}/explanation explains."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from govflow.governance.access import tokens
from govflow.governance.ledger.engine import Ledger
from govflow.governance.trail import retention
from govflow.governance.trail.search import parse_query, search_predictions
from govflow.web.app import create_app
from tests.trail.explain_helpers import config_with, in_production, requests, serve


@pytest.fixture
def audited(sqlite_ledger: Ledger) -> Iterator[tuple[TestClient, dict[str, str], dict[str, str], list[Any]]]:
    in_production(sqlite_ledger, config_with())
    logged = serve(sqlite_ledger, 12)
    auditor, _ = tokens.create_token(sqlite_ledger, role="auditor", label="external-auditor", created_by="t")
    operator, _ = tokens.create_token(sqlite_ledger, role="operator", label="frontend", created_by="t")
    with TestClient(create_app(sqlite_ledger), client=("127.0.0.1", 50000)) as client:
        yield client, {"Authorization": f"Bearer {auditor}"}, {"Authorization": f"Bearer {operator}"}, logged


def test_the_filters_answer_as_the_search_does(audited: tuple[TestClient, dict[str, str], dict[str, str], list[Any]],
                                              sqlite_ledger: Ledger) -> None:
    client, as_auditor, _, logged = audited
    params = {"system": "credit-scoring", "version": "1", "decision": "favourable", "group": ["age_in_years>=40"]}
    answer = client.get("/audit/predictions", params=params, headers=as_auditor)
    assert answer.status_code == 200, answer.text
    with sqlite_ledger.read() as conn:
        expected = search_predictions(conn, parse_query(params)).predictions
    assert expected and answer.json()["predictions"] == expected
    assert answer.json()["filters"] == {"system": "credit-scoring", "version": 1, "decision": 1,
                                        "group": ["age_in_years>=40"]}
    ages = [r["sensitive"]["age_in_years"] for r in requests(12)]
    assert {p["id"] for p in expected} == {pid for (pid, out), age in zip(logged, ages) if out["favourable"] and age >= 40}
    assert len(expected) < sum(out["favourable"] for _, out in logged)  # the group filter did leave some out


def test_pages_follow_the_cursor(audited: tuple[TestClient, dict[str, str], dict[str, str], list[Any]]) -> None:
    client, as_auditor, _, logged = audited
    seen, cursor = [], None
    while True:
        page = client.get("/audit/predictions", params={"limit": "5", **({"cursor": cursor} if cursor else {})},
                          headers=as_auditor).json()
        seen += [p["id"] for p in page["predictions"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(pid for pid, _ in logged) and len(seen) == 12


@pytest.mark.parametrize(("query", "message"), [
    ("decision=perhaps", "decision: 'perhaps' is not 0, 1, favourable or unfavourable"),
    ("group=age", "group: 'age' is not NAME=VALUE"),
    ("version=1", "version: give the system too"),
    ("score_min=x", "score_min: 'x' is not a number"),
])
def test_a_bad_filter_is_a_422_saying_how(audited: tuple[TestClient, dict[str, str], dict[str, str], list[Any]],
                                          query: str, message: str) -> None:
    client, as_auditor, _, _ = audited
    answer = client.get(f"/audit/predictions?{query}", headers=as_auditor)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["msg"].startswith(message)


def test_the_explanation_route(audited: tuple[TestClient, dict[str, str], dict[str, str], list[Any]]) -> None:
    client, as_auditor, as_operator, logged = audited
    (pid, output), (erased, _) = logged[0], logged[1]
    assert client.get(f"/audit/predictions/{pid}/explanation", headers=as_operator).status_code == 403
    answer = client.get(f"/audit/predictions/{pid}/explanation", headers=as_auditor)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["method"] == "exact-linear" and body["output"] == output
    assert body["recorded"]["body"]["text_sha256"]
    assert client.get("/audit/predictions/nope/explanation", headers=as_auditor).status_code == 404
    retention.erase_subject(client.app.state.govflow.ledger, "person-1", reason="art. 17", by="dpo")  # type: ignore[attr-defined]
    gone = client.get(f"/audit/predictions/{erased}/explanation", headers=as_auditor)
    assert gone.status_code == 410
    assert gone.json()["detail"].endswith("none is guessed")
