"""The dashboard in headless Chromium against a real uvicorn server: charts render, nothing is
fetched from outside 127.0.0.1, and flags show for an injected anomaly and not for balanced data."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from govflow import canonical as canon
from govflow.governance.access import tokens
from govflow.governance.ledger.engine import Ledger
from govflow.web.dashboard import dashboard_router
from tests.web.dashboard import scenario
from tests.web.dashboard.browser import launched_chromium, serving
from tests.web.dashboard.pixels import colour_counts
from tests.web.dashboard.scenario import BALANCED

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Two systems in one ledger, one with a collapsing group, one balanced; served by uvicorn."""
    ledger = Ledger.open(home=tmp_path_factory.mktemp("dashboard") / "home")
    start = canon.utc_now().replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    collapse = {day: {("female", 22): (40, 4), ("female", 40): (40, 4)} for day in (2, 3)}
    for system, changes in (("credit-scoring", collapse), ("loans-balanced", None)):
        version = scenario.register(ledger, system)
        scenario.to_production(ledger, version)
        scenario.log(ledger, version, scenario.decisions(start, days=4, per_day=BALANCED, collapse=changes))
    scenario.recommender(ledger, start)
    secret, _ = tokens.create_token(ledger, role="auditor", label="browser-test", created_by="test")
    app = FastAPI()
    app.include_router(dashboard_router(ledger, clock=lambda: start + timedelta(days=5)))
    with serving(app) as url:
        yield {"url": url, "token": secret, "start": start}
    ledger.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launched_chromium() as launched:
        yield launched


class Visit:
    """A page that records every request it makes and every error it shows."""

    def __init__(self, browser: Any, site: dict[str, Any]) -> None:
        self.context = browser.new_context(viewport={"width": 1100, "height": 900})
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.context.on("request", lambda r: self.requests.append(r.url))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        # Anything not for this server is cut off (and stays in `requests`, failing the test).
        self.context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(site["url"] + "/")
                           else route.abort())

    def sign_in(self, site: dict[str, Any], path: str) -> None:
        self.page.goto(site["url"] + path)
        self.page.fill("input[name=token]", site["token"])
        self.page.click("form[action='/dashboard/login'] button")
        self.page.wait_for_load_state("load")
        expected = "Failed to load resource: the server responded with a status of 401 (Unauthorized)"
        self.errors = [e for e in self.errors if e != expected]  # the sign-in page itself is a 401

    def close(self) -> None:
        self.context.close()


def test_anomaly_page_renders_charts_and_flags(browser: Any, site: dict[str, Any], tmp_path: Path) -> None:
    visit = Visit(browser, site)
    try:
        visit.sign_in(site, "/dashboard/credit-scoring?bucket=1d")
        page = visit.page
        assert page.url == site["url"] + "/dashboard/credit-scoring?bucket=1d"
        for key in ("requests", "rates-sex", "rates-age", "ratios"):
            page.wait_for_selector(f"[data-chart='{key}'] .main-svg", state="attached", timeout=15000)
        assert page.locator("[data-chart='requests'] .barlayer .point").count() == 4  # one bar per day
        # female and male, each a line and its Wilson band, and all
        assert page.locator("[data-chart='rates-sex'] .scatterlayer .trace").count() == 5
        flags = page.locator(".flag")
        kinds = [flags.nth(i).get_attribute("data-kind") for i in range(flags.count())]
        assert kinds.count("disparate_impact") == 2 and kinds.count("rate_shift") == 4
        assert "sex: favourable rate of female 0.10 (n=80) is 0.17 of male's 0.60 (n=80)" in flags.first.inner_text()
        assert page.locator("#no-flags").count() == 0

        shot = page.locator("[data-chart='rates-sex']").screenshot(path=str(tmp_path / "rates-sex.png"))
        colours = colour_counts(shot)
        # white background, grid, the two group lines and the dotted overall line: many colours, each visible
        assert len([c for c, n in colours.items() if n >= 20]) >= 5
        assert colours.most_common(1)[0][1] < 0.97 * sum(colours.values())
        line_colours = {(31, 119, 180), (214, 39, 40)}  # the first two of the palette: female, male
        assert line_colours <= set(colours)

        assert visit.errors == []
        assert visit.requests and all(u.startswith(site["url"] + "/") for u in visit.requests), visit.requests
        assert site["url"] + "/dashboard/assets/plotly.min.js" in visit.requests
    finally:
        visit.close()


def test_balanced_page_has_no_flags(browser: Any, site: dict[str, Any]) -> None:
    visit = Visit(browser, site)
    try:
        visit.sign_in(site, "/dashboard/loans-balanced")
        page = visit.page
        page.wait_for_selector("[data-chart='ratios'] .main-svg", state="attached", timeout=15000)
        assert page.locator(".flag").count() == 0
        assert page.locator("#no-flags").inner_text() == "No anomalous decision pattern flagged in this period."
        assert visit.errors == []
        assert all(u.startswith(site["url"] + "/") for u in visit.requests), visit.requests
    finally:
        visit.close()


def test_recommender_page_shows_exposure_by_group(browser: Any, site: dict[str, Any]) -> None:
    visit = Visit(browser, site)
    try:
        visit.sign_in(site, "/dashboard/movie-recs")
        page = visit.page
        page.wait_for_selector("[data-chart='exposure-gender-genre'] .main-svg", state="attached", timeout=15000)
        assert page.locator("[data-chart='exposure-gender-genre'] .barlayer .point").count() == 4  # 2 genres x 2 groups
        shot = page.locator("[data-chart='exposure-gender-genre']").screenshot()
        assert {(31, 119, 180), (214, 39, 40)} <= set(colour_counts(shot))
        assert visit.errors == []
        assert all(u.startswith(site["url"] + "/") for u in visit.requests), visit.requests
    finally:
        visit.close()


def test_index_lists_both_systems_with_their_flag_counts(browser: Any, site: dict[str, Any]) -> None:
    visit = Visit(browser, site)
    try:
        visit.sign_in(site, "/dashboard")
        rows = visit.page.locator("#systems tr")
        texts = [rows.nth(i).inner_text().split("\t") for i in range(1, rows.count())]
        assert [[cell.strip() for cell in row] for row in texts] == [
            ["credit-scoring", "640", "credit-scoring:1", "1", "0"],  # monitoring's 7-day window
            ["loans-balanced", "640", "loans-balanced:1", "0", "0"],
            ["movie-recs", "40", "movie-recs:1", "0", "0"]]
        assert all(u.startswith(site["url"] + "/") for u in visit.requests), visit.requests
    finally:
        visit.close()


def test_without_a_token_the_browser_gets_the_sign_in_form(browser: Any, site: dict[str, Any]) -> None:
    visit = Visit(browser, site)
    try:
        response = visit.page.goto(site["url"] + "/dashboard/credit-scoring")
        assert response is not None and response.status == 401
        assert visit.page.locator(".main-svg").count() == 0
        assert "auditor token" in visit.page.locator("h2").inner_text()
    finally:
        visit.close()


def test_rendering_is_quick(browser: Any, site: dict[str, Any]) -> None:
    visit = Visit(browser, site)
    try:
        visit.sign_in(site, "/dashboard/credit-scoring")
        began = datetime.now()
        visit.page.reload()
        visit.page.wait_for_selector("[data-chart='ratios'] .main-svg", state="attached", timeout=15000)
        assert (datetime.now() - began).total_seconds() < 10
    finally:
        visit.close()
