"""A browser opening an /audit page without signing in gets the sign-in form, which brings it back to that
page; API clients (Accept: application/json, */* or none) keep the JSON 401 and its text."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from govflow.governance.access import tokens
from govflow.governance.ledger.engine import Ledger
from govflow.web import app as serve
from govflow.web.auth import NEED_AUDITOR
from tests.web.dashboard.browser import launched_chromium
from tests.web.serving.helpers import server

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
PAGE = "/audit/predictions?system=credit-scoring&limit=5"


@pytest.fixture
def served(sqlite_ledger: Ledger) -> tuple[TestClient, str]:
    """The serving app (the dashboard installed, as `govflow serve` runs it) and an auditor's secret."""
    auditor, _ = tokens.create_token(sqlite_ledger, role="auditor", label="auditor-1", created_by="test")
    return TestClient(serve.create_app(sqlite_ledger)), auditor


def test_a_browser_without_a_token_gets_the_sign_in_form_back_to_its_page(served: tuple[TestClient, str]) -> None:
    client, _ = served
    answer = client.get(PAGE, headers={"Accept": BROWSER})
    assert answer.status_code == 401 and answer.headers["content-type"].startswith("text/html")
    assert answer.headers["vary"] == "Accept" and answer.headers["www-authenticate"].startswith("Bearer")
    assert '<form method="post" action="/dashboard/login">' in answer.text
    assert f'<input type="hidden" name="next" value="{PAGE.replace("&", "&amp;")}">' in answer.text
    assert "<code>govflow token create --role auditor</code>" in answer.text
    assert "The audit endpoints trace decisions" in answer.text and "<button>sign in</button>" in answer.text


@pytest.mark.parametrize("accept", [None, "application/json", "*/*", "application/json, text/html;q=0.5"])
def test_api_clients_keep_the_json_401(served: tuple[TestClient, str], accept: str | None) -> None:
    client, _ = served
    answer = client.get(PAGE, headers={"Accept": accept} if accept else {})
    assert answer.status_code == 401 and answer.headers["content-type"] == "application/json"
    assert answer.json() == {"detail": NEED_AUDITOR}
    assert answer.headers["www-authenticate"] == "Bearer"


def test_signing_in_from_the_form_opens_the_page_asked_for(served: tuple[TestClient, str]) -> None:
    client, auditor = served
    signed = client.post("/dashboard/login", data={"token": auditor, "next": PAGE}, follow_redirects=False)
    assert (signed.status_code, signed.headers["location"]) == (303, PAGE)
    opened = client.get(PAGE, headers={"Accept": BROWSER})
    assert opened.status_code == 200 and "<h1>predictions</h1>" in opened.text


def test_a_revoked_sign_in_shows_the_form_saying_why(served: tuple[TestClient, str], sqlite_ledger: Ledger) -> None:
    client, auditor = served
    client.post("/dashboard/login", data={"token": auditor})
    tokens.revoke_token(sqlite_ledger, "auditor-1", revoked_by="test", reason="laptop lost")
    cast(FastAPI, client.app).state.govflow.auth.refresh_s = 0  # the token cache reloads now, not within its second
    page = client.get(PAGE, headers={"Accept": BROWSER})
    assert page.status_code == 401 and '<p class="flag critical">' in page.text and "revoked" in page.text
    as_json = client.get(PAGE)
    assert as_json.status_code == 401 and "revoked" in as_json.json()["detail"]


@pytest.fixture
def browser() -> Iterator[Any]:
    with launched_chromium() as launched:
        yield launched


@pytest.mark.browser
def test_chromium_opens_an_audit_page_signs_in_and_lands_on_it(sqlite_ledger: Ledger, browser: Any) -> None:
    auditor, _ = tokens.create_token(sqlite_ledger, role="auditor", label="auditor-1", created_by="test")
    with server(sqlite_ledger) as (base, _):
        page = browser.new_page()
        first = page.goto(base + PAGE)
        assert first is not None and first.status == 401
        assert page.locator("h2").inner_text() == "An auditor token is needed"
        page.fill("input[name=token]", auditor)
        with page.expect_navigation():
            page.click("button")
        assert page.url == base + PAGE
        assert page.locator("h1").inner_text() == "predictions"
        assert '"predictions": []' in page.locator("#json").inner_text()
        page.close()
