"""One sign-in for /dashboard and /audit on the serving app, ``/`` leading to the dashboard, and the
audit answers formatted for a browser while API clients keep their JSON."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from govflow.governance.access import tokens
from govflow.governance.ledger.engine import Ledger
from govflow.governance.registry.versions import VersionRef
from govflow.web import app as serve
from govflow.web.auth import NEED_AUDITOR
from tests.web.dashboard import scenario

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture
def served(sqlite_ledger: Ledger, production: VersionRef, start: datetime) -> tuple[TestClient, str, str]:
    """The serving app over a ledger with 4 logged decisions; ``(client, auditor secret, a prediction id)``."""
    scenario.log(sqlite_ledger, production, scenario.decisions(start, days=1, per_day={("male", 40): (4, 2)}))
    auditor, _ = tokens.create_token(sqlite_ledger, role="auditor", label="auditor-1", created_by="test")
    with sqlite_ledger.read() as conn:
        from sqlalchemy import select

        from govflow.governance.ledger.schema import Prediction

        prediction = str(conn.execute(select(Prediction.id).limit(1)).scalar_one())
    return TestClient(serve.create_app(sqlite_ledger)), auditor, prediction


def test_root_leads_to_the_dashboard(served: tuple[TestClient, str, str]) -> None:
    client, _, _ = served
    answer = client.get("/", follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (307, "/dashboard")
    assert client.get("/").status_code == 401  # followed: the dashboard's sign-in form
    assert 'action="/dashboard/login"' in client.get("/").text


def test_one_sign_in_opens_the_audit_routes(served: tuple[TestClient, str, str]) -> None:
    client, auditor, prediction = served
    assert client.get("/audit/head").json()["detail"] == NEED_AUDITOR
    signed = client.post("/dashboard/login", data={"token": auditor, "next": f"/audit/predictions/{prediction}"},
                         follow_redirects=False)
    assert (signed.status_code, signed.headers["location"]) == (303, f"/audit/predictions/{prediction}")
    assert client.get("/audit/head").status_code == 200  # the browser's cookie, no Authorization header
    as_json = client.get(f"/audit/predictions/{prediction}")
    assert as_json.headers["content-type"] == "application/json" and as_json.json()["prediction"]["id"] == prediction
    as_page = client.get(f"/audit/predictions/{prediction}", headers={"Accept": BROWSER})
    assert as_page.headers["content-type"].startswith("text/html")
    assert '<pre id="json">{\n  &quot;prediction&quot;: {\n' in as_page.text.replace("'", '"')
    assert "<script" not in as_page.text and as_page.headers["content-security-policy"].startswith("default-src 'none'")
    listed = client.get("/audit/predictions", params={"system": "credit-scoring"}, headers={"Accept": BROWSER})
    assert listed.status_code == 200 and listed.headers["content-type"].startswith("text/html")
    assert f"&quot;id&quot;: &quot;{prediction}&quot;" in listed.text
    assert client.get("/audit/runs/no-such-run-id").status_code == 404
    assert client.get("/audit/incidents/no-such-incident").status_code == 404


def test_the_sign_in_never_requests_predictions(served: tuple[TestClient, str, str]) -> None:
    client, auditor, _ = served
    client.post("/dashboard/login", data={"token": auditor})
    answer = client.post("/predict/credit-scoring", json={"amount": 1000})
    assert answer.status_code == 401  # tokens exist: /predict wants an operator token, the cookie is not one


def test_a_revoked_sign_in_is_refused(served: tuple[TestClient, str, str], sqlite_ledger: Ledger) -> None:
    client, auditor, _ = served
    client.post("/dashboard/login", data={"token": auditor})
    tokens.revoke_token(sqlite_ledger, "auditor-1", revoked_by="test", reason="laptop lost")
    deadline = datetime.now() + timedelta(seconds=5)
    while client.get("/audit/head").status_code == 200 and datetime.now() < deadline:
        pass
    refused = client.get("/audit/head")
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    assert client.get("/dashboard").status_code == 401
