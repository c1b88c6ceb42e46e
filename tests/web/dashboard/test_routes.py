"""The dashboard's HTTP side, in-process: access rule, pages, errors, plotly.js served locally."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from govflow.governance.access import tokens
from govflow.governance.ledger.engine import Ledger
from govflow.governance.registry.versions import VersionRef
from govflow.web.dashboard import NOT_AUDITOR, PLOTLY_JS, dashboard_router
from tests.web.dashboard import scenario
from tests.web.dashboard.scenario import BALANCED


@pytest.fixture
def client(sqlite_ledger: Ledger, production: VersionRef, start: datetime) -> TestClient:
    collapse = {day: {("female", 22): (40, 4), ("female", 40): (40, 4)} for day in (2, 3)}
    scenario.log(sqlite_ledger, production, scenario.decisions(start, days=4, per_day=BALANCED, collapse=collapse))
    app = FastAPI()
    app.include_router(dashboard_router(sqlite_ledger, clock=lambda: start + timedelta(days=5)))
    return TestClient(app)


def bearer(ledger: Ledger, role: str = "auditor") -> dict[str, str]:
    secret, _ = tokens.create_token(ledger, role=role, label=None, created_by="test")
    return {"Authorization": f"Bearer {secret}"}


@pytest.mark.parametrize("path", ["/dashboard", "/dashboard/credit-scoring"])
def test_needs_an_auditor_token(client: TestClient, sqlite_ledger: Ledger, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer gft_wrong"}, bearer(sqlite_ledger, "operator")):
        response = client.get(path, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Bearer realm="govflow audit"'
        assert 'action="/dashboard/login"' in response.text
        assert "credit-scoring:1" not in response.text


def test_pages_for_an_auditor(client: TestClient, sqlite_ledger: Ledger) -> None:
    headers = bearer(sqlite_ledger)
    index = client.get("/dashboard", headers=headers)
    assert index.status_code == 200
    row = re.search(r'<tr><td><a href="/dashboard/credit-scoring\?days=30">credit-scoring</a></td><td class="num">(\d+)</td>\s*'
                    r'<td>([^<]*)</td><td class="num">(\d+)</td><td class="num">(\d+)</td></tr>', index.text)
    # monitoring's 7-day window holds all four days: women 112/320 = 0.35 against men's 0.60 is one
    # disparate impact (sex); no adjacent windows, so no shift
    assert row is not None and row.groups() == ("640", "credit-scoring:1", "1", "0")
    page = client.get("/dashboard/credit-scoring", headers=headers, params={"bucket": "1d"})
    assert page.status_code == 200
    assert page.text.count('data-kind="disparate_impact"') == 2
    assert page.text.count('data-kind="rate_shift"') == 4
    assert "windows of 1d; 640 prediction(s)" in page.text
    for key in ("requests", "rates-age", "rates-sex", "ratios"):
        assert f'data-chart="{key}"' in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'; script-src 'self'")
    # nothing on the page points outside this server
    assert re.findall(r'(?:src|href)="(?!/)[^"#]', page.text) == []


def test_login_form_sets_a_cookie_and_never_redirects_away(client: TestClient, sqlite_ledger: Ledger) -> None:
    secret = bearer(sqlite_ledger)["Authorization"][7:]
    refused = client.post("/dashboard/login", data={"token": "gft_nope", "next": "/dashboard/credit-scoring"})
    assert refused.status_code == 401 and NOT_AUDITOR in refused.text
    ok = client.post("/dashboard/login", data={"token": secret, "next": "//evil.example/x"}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/dashboard"
    cookie = ok.headers["set-cookie"]
    assert cookie.startswith("govflow_auditor=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/;" in cookie
    assert client.get("/dashboard/credit-scoring").status_code == 200  # the client keeps the cookie


def test_errors(client: TestClient, sqlite_ledger: Ledger) -> None:
    headers = bearer(sqlite_ledger)
    unknown = client.get("/dashboard/nope", headers=headers)
    assert (unknown.status_code, unknown.json()["detail"]) == (404, "no system named 'nope' in the ledger (known: credit-scoring)")
    bad = client.get("/dashboard/credit-scoring", headers=headers, params={"bucket": "3y"})
    assert (bad.status_code, bad.json()["detail"]) == (422, "bucket: '3y' is not a duration: write a number and a unit, e.g. 15m, 6h, 30d")
    bad_end = client.get("/dashboard/credit-scoring", headers=headers, params={"end": "yesterday"})
    assert bad_end.status_code == 422
    assert bad_end.json()["detail"] == ("end 'yesterday' is not an ISO 8601 date or time, e.g. 2026-05-01 or "
                                        "2026-05-01T12:00Z")


def test_an_earlier_period_by_end(client: TestClient, sqlite_ledger: Ledger, start: datetime) -> None:
    headers = bearer(sqlite_ledger)
    before = client.get("/dashboard/credit-scoring", headers=headers,
                        params={"end": (start + timedelta(days=2)).isoformat(), "days": 2})
    assert "320 prediction(s)" in before.text and 'id="no-flags"' in before.text


def test_plotly_js_is_served_from_the_installed_package(client: TestClient) -> None:
    response = client.get("/dashboard/assets/plotly.min.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.content == PLOTLY_JS.read_bytes()


def test_exposure_of_a_recommender(sqlite_ledger: Ledger, start: datetime) -> None:
    scenario.recommender(sqlite_ledger, start)
    app = FastAPI()
    app.include_router(dashboard_router(sqlite_ledger, clock=lambda: start + timedelta(days=1)))
    page = TestClient(app).get("/dashboard/movie-recs", headers=bearer(sqlite_ledger))
    assert page.status_code == 200
    assert 'data-chart="exposure-gender-genre"' in page.text and 'data-chart="rates-gender"' not in page.text
    # F: a 1, b 0.631 -> 0.613 / 0.387; M: b, c likewise; all: a 0.307, b 0.5, c 0.193; distance 0.307 each
    rows = re.findall(r"<tr><td>gender</td><td>(\w)</td><td class=\"num\">(\d+)</td><td class=\"num\">(\d+)</td>"
                      r"<td class=\"num\">([\d.]+)</td></tr>", page.text)
    assert rows == [("F", "20", "2", "0.307"), ("M", "20", "2", "0.307")]
    assert 'id="no-flags"' in page.text
