"""The dashboard as an extension of the prediction service (`govflow.web.app.create_app`): same tokens
as /audit, a real uvicorn server, predictions made through /predict shown on the page."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi.testclient import TestClient

from govflow.governance.access import tokens
from govflow.governance.ledger.engine import Ledger
from govflow.governance.registry.versions import VersionRef
from govflow.web import app as serve
from tests.web.dashboard import scenario
from tests.web.dashboard.scenario import BALANCED


def test_mounted_on_the_serving_app(sqlite_ledger: Ledger, production: VersionRef, start: datetime) -> None:
    scenario.log(sqlite_ledger, production, scenario.decisions(start, days=2, per_day=BALANCED))
    auditor, _ = tokens.create_token(sqlite_ledger, role="auditor", label="auditor-1", created_by="test")
    operator, _ = tokens.create_token(sqlite_ledger, role="operator", label="operator-1", created_by="test")
    app = serve.create_app(sqlite_ledger)  # the dashboard is one of its default extensions
    with TestClient(app) as client:
        end = (start + timedelta(days=3)).isoformat()
        assert client.get("/dashboard/credit-scoring", params={"end": end}).status_code == 401
        assert client.get("/dashboard/credit-scoring", params={"end": end},
                          headers={"Authorization": f"Bearer {operator}"}).status_code == 401
        page = client.get("/dashboard/credit-scoring", params={"end": end}, headers={"Authorization": f"Bearer {auditor}"})
        assert page.status_code == 200 and "320 prediction(s)" in page.text and 'id="no-flags"' in page.text
        assert client.get("/dashboard/assets/plotly.min.js").status_code == 200
        assert "/dashboard/{system}" in client.get("/openapi.json").json()["paths"]
