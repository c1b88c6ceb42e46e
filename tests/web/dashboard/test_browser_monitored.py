"""A monitored system in headless Chromium, on the serving app (`govflow serve`'s): ``/`` leads to the
sign-in, one sign-in opens both the dashboard and ``/audit``, the drift panel shows what the
monitoring run found (the drifted week's x1 and x2) and links to that run, and the outcome panel
draws the true- and false-positive rates by group from the recorded outcomes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from govflow.flows.recording import set_ledger
from govflow.governance.access import tokens
from govflow.web import app as serve
from tests.web.dashboard import monitored
from tests.web.dashboard.browser import ARGS, chromium, serving

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(prefect_harness: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    ledger, _, outcome = monitored.build(tmp_path_factory.mktemp("monitored"))
    try:
        secret, _ = tokens.create_token(ledger, role="auditor", label="browser", created_by="test")
        with serving(serve.create_app(ledger)) as url:
            yield {"url": url, "token": secret, "outcome": outcome, "ledger": ledger}
    finally:
        set_ledger(None)
        ledger.close()


@pytest.fixture(scope="module")
def page(site: dict[str, Any]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(site["url"] + "/")
                      else route.abort())
        yield context.new_page()
        browser.close()


def test_root_then_one_sign_in_for_dashboard_and_audit(site: dict[str, Any], page: Any) -> None:
    assert "data_drift" in [a["check"] for a in site["outcome"]["alerts"]]  # the drifted week alerted
    page.goto(site["url"] + "/")
    assert page.url == site["url"] + "/dashboard"
    page.fill("input[name=token]", site["token"])
    page.click("form[action='/dashboard/login'] button")
    page.wait_for_selector("#systems")
    page.click("#systems a:text('toy-screening')")
    page.wait_for_selector("#drift-features")

    drifted = page.locator("#drift-features tr[data-feature='x1'] .pill").inner_text()
    assert drifted == "drifted"
    assert page.locator("#drift-features tr[data-feature='x2'] .pill").inner_text() == "drifted"
    assert page.locator("#drift-features tr[data-feature='features'] .pill").inner_text() == "drifted"
    page.wait_for_selector("[data-chart='outcomes'] .main-svg", state="attached", timeout=20000)
    bars = page.locator("[data-chart='outcomes'] .barlayer .point")
    assert bars.count() == 6  # TPR and FPR for everyone, group A and group B
    assert "(as monitoring)" in page.locator("p.note").first.inner_text()

    page.click("a[data-link='monitoring']")  # to /audit: no second sign-in
    page.wait_for_selector("#json")
    assert page.url.startswith(site["url"] + "/audit/runs/")
    text = page.locator("#json").inner_text()
    assert text.startswith("{\n") and "drifted_column_share" in text


def test_the_drift_panel_opens_the_stored_evidently_report(site: dict[str, Any], page: Any) -> None:
    page.goto(site["url"] + "/dashboard/toy-screening")
    link = page.locator("a[data-link='drift-report']")
    name = link.inner_text()
    assert name.startswith("drift-report-toy-screening-v") and name.endswith(".html")
    link.click()
    page.wait_for_load_state()
    assert page.url == site["url"] + "/dashboard/toy-screening/drift-report"
    assert page.title().startswith("Drift report: toy-screening:")


def test_an_altered_drift_report_is_refused_not_shown(site: dict[str, Any]) -> None:
    import httpx

    from govflow.web import dashboard_documents

    ledger = site["ledger"]
    found = dashboard_documents.latest_report(ledger, "toy-screening")
    assert found is not None
    stored = ledger.artifacts.path(found.content_hash)
    original = stored.read_bytes()
    cookies = {"govflow_auditor": site["token"]}
    try:
        stored.write_bytes(original.replace(b"Drift report", b"No drift at all", 1))
        answer = httpx.get(site["url"] + "/dashboard/toy-screening/drift-report", cookies=cookies)
        assert answer.status_code == 409
        assert f"the drift report {found.name} cannot be shown: artifact file" in answer.text and "was altered" in answer.text
    finally:
        stored.write_bytes(original)
    assert httpx.get(site["url"] + "/dashboard/toy-screening/drift-report", cookies=cookies).status_code == 200
    assert httpx.get(site["url"] + "/dashboard/nobody/drift-report", cookies=cookies).status_code == 404
