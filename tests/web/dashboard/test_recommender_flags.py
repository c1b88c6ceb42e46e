"""The recommender anomaly flags on a recommender's dashboard page (#20 item 3): a recommender trained by
the real flow, quiet on the lists it served, flagged once its lists collapse to best-sellers, each
failed check linking to the lists it judged and to the incident `govflow recommender check --alert` opened."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from govflow import canonical as canon
from govflow.flows.recommender_flow import load_production_recommender, recommend
from govflow.flows.recommender_monitor import alert_recommender, check_recommender
from govflow.flows.recording import set_ledger
from govflow.governance.ledger.engine import Ledger
from govflow.web.dashboard import dashboard_router
from tests.recommender.synthetic import write_config
from tests.recommender.test_anomaly_monitoring import USERS, log_popular_lists, users
from tests.recommender.test_scenario import trained
from tests.web.dashboard.test_routes import bearer

pytestmark = pytest.mark.slow


@pytest.fixture
def recorder(sqlite_ledger: Ledger, prefect_harness: None) -> Iterator[Ledger]:
    set_ledger(sqlite_ledger)
    yield sqlite_ledger
    set_ledger(None)


def verdicts(html: str) -> dict[str, str]:
    return dict(re.findall(r'<tr data-check="(\w+)".*?<span class="pill [\w-]+">([\w ]+)</span>', html, re.S))


def test_flags_on_a_shift_with_links(recorder: Ledger, tmp_path: Path) -> None:
    trained(recorder, write_config(tmp_path / "system", users=USERS, seed=5))
    served = load_production_recommender(recorder, "movie-recs")
    recommend(recorder, served, users(1, USERS // 2 + 1), caller="shop")
    now = canon.utc_now() + timedelta(minutes=1)
    app = FastAPI()
    app.include_router(dashboard_router(recorder, clock=lambda: now))
    client = TestClient(app)
    headers = bearer(recorder)
    quiet = client.get("/dashboard/movie-recs", params={"bucket": "1h", "days": 1}, headers=headers)
    assert verdicts(quiet.text) == {"exposure_disparity": "pass", "catalogue_coverage": "pass",
                                    "popularity_gini": "pass", "recommendation_shift": "pass"}

    later = now + timedelta(hours=1)
    log_popular_lists(recorder, users(USERS // 2 + 1, USERS + 1), later)
    check = check_recommender(recorder, "movie-recs", end=later + timedelta(minutes=1), window=timedelta(hours=1))
    opened = alert_recommender(recorder, check, by="monitor")
    assert opened is not None
    shifted = client.get("/dashboard/movie-recs", headers=headers,
                         params={"bucket": "1h", "days": 1, "end": canon.format_ts(later + timedelta(minutes=1))})
    found = verdicts(shifted.text)
    assert {name for name, verdict in found.items() if verdict == "FLAG"} >= {
        "catalogue_coverage", "popularity_gini", "recommendation_shift"}
    row = shifted.text.split('<tr data-check="catalogue_coverage"')[1].split("</tr>")[0]
    assert f'href="/audit/incidents/{opened["incident_id"]}"' in row
    assert 'href="/audit/predictions?system=movie-recs&amp;version=1&amp;since=' in row
