"""A real browser on a page of another site tries to forge predictions against a local `govflow serve`
that has no token yet (so /predict asks for none): every way a page can post without the server's
consent (a no-cors fetch, an HTML form, a CORS fetch) records nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from govflow.governance.ledger.engine import Ledger
from tests.web.dashboard.browser import launched_chromium, serving
from tests.web.serving.helpers import SYSTEM, counts, put_in_production, records, server

EVIL_PAGE = """<!doctype html><html><body>
<iframe name="sink" style="display:none"></iframe>
<form id="form" method="POST" action="{target}" enctype="text/plain" target="sink">
  <input name='{form_name}' value='{form_value}'>
</form>
<script>
const body = {body};
async function attack() {{
  const tries = [
    fetch("{target}", {{method: "POST", mode: "no-cors", body: body}}),
    fetch("{target}", {{method: "POST", mode: "no-cors", headers: {{"Content-Type": "text/plain"}}, body: body}}),
    fetch("{target}", {{method: "POST", mode: "no-cors", headers: {{"Content-Type": "application/json"}}, body: body}}),
    fetch("{target}", {{method: "POST", headers: {{"Content-Type": "application/json"}}, body: body}}),
  ];
  for (const t of tries) {{ try {{ await t; }} catch (e) {{}} }}
  document.getElementById("form").submit();
  setTimeout(() => {{ document.title = "done"; }}, 1500);
}}
attack();
</script></body></html>"""


@pytest.fixture
def browser() -> Iterator[Any]:
    with launched_chromium() as launched:
        yield launched


def evil_site(target: str) -> FastAPI:
    record = json.dumps(records(1)[0])
    # text/plain form encoding sends name=value: a name and value that together read as the JSON record
    form_name, form_value = record[:-1] + ', "x": "', '"}'
    page = EVIL_PAGE.format(target=target, body=json.dumps(record), form_name=form_name.replace("'", "&#39;"),
                            form_value=form_value)
    app = FastAPI()

    @app.get("/")
    def index() -> HTMLResponse:
        return HTMLResponse(page)

    return app


def test_a_page_of_another_site_cannot_forge_predictions(sqlite_ledger: Ledger, browser: Any) -> None:
    put_in_production(sqlite_ledger)
    with server(sqlite_ledger) as (base, _):
        target = f"{base}/predict/{SYSTEM}"
        before = counts(sqlite_ledger)
        with serving(evil_site(target)) as evil:
            assert evil.rsplit(":", 1)[1] != base.rsplit(":", 1)[1]
            page = browser.new_page()
            page.goto(evil)
            page.wait_for_function("document.title === 'done'", timeout=30_000)
            page.close()
        assert counts(sqlite_ledger) == before, "a page of another site recorded predictions"
