"""Recommender anomalies as monitoring alerts: a recommender trained by the real flow, its lists logged
through the trail; quiet on what it serves, an incident once the served lists collapse to best-sellers."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from govflow import canonical as canon
from govflow.cli.main import app
from govflow.flows.recommender_flow import load_production_recommender, recommend
from govflow.flows.recommender_monitor import alert_recommender, check_recommender
from govflow.governance.ledger.engine import Ledger
from govflow.governance.monitoring import incidents
from govflow.governance.trail import predictions as preds
from tests.recommender.synthetic import write_config
from tests.recommender.test_scenario import trained

pytestmark = pytest.mark.slow
USERS = 400


@pytest.fixture
def big_config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "system", users=USERS, seed=5)


def users(start: int, stop: int) -> list[dict[str, object]]:
    return [{"user_id": u, "sensitive": {"gender": "F" if (u // 2) % 2 else "M", "age": (19, 23, 31, 44, 62)[u % 5]}}
            for u in range(start, stop)]


def log_popular_lists(ledger: Ledger, records: list[dict[str, object]], at: datetime) -> None:
    """The injected shift: the service answers everyone with the most-rated items (logged as served, at ``at``)."""
    served = load_production_recommender(ledger, "movie-recs")
    valid = served.schema.validate(records)
    logged = [preds.make_record(request_id=f"shift-{i}", system="movie-recs", model_version_id=served.version.id,
                                output={"items": served.model.popular_items(str(v.features["user_id"]), 5), "scores": [],
                                        "cold_start": False}, valid=v, latency_ms=1.0, served_at=at, caller="shifted")
              for i, v in enumerate(valid)]
    preds.write_predictions(ledger, logged)


def test_quiet_on_served_lists_and_an_incident_on_a_shift(recorder: Ledger, big_config: Path) -> None:
    trained(recorder, big_config)
    served = load_production_recommender(recorder, "movie-recs")
    recommend(recorder, served, users(1, USERS // 2 + 1), caller="shop")
    quiet = check_recommender(recorder, "movie-recs", window=timedelta(hours=1))
    judged = {r.name for r in quiet.results if r.passed is not None}
    assert judged == {"catalogue_coverage", "popularity_gini", "recommendation_shift", "exposure_disparity"}
    assert quiet.failures == [] and alert_recommender(recorder, quiet, by="monitor") is None

    later = canon.utc_now() + timedelta(hours=1)  # the next window: the lists served so far are the previous one
    log_popular_lists(recorder, users(USERS // 2 + 1, USERS + 1), later)
    shifted = check_recommender(recorder, "movie-recs", end=later + timedelta(minutes=1), window=timedelta(hours=1))
    assert shifted.results[0].details["lists"] == USERS // 2
    fired = {r.name for r in shifted.failures}
    assert {"catalogue_coverage", "popularity_gini", "recommendation_shift"} <= fired
    incident = alert_recommender(recorder, shifted, by="monitor")
    assert incident is not None and incident["new"] is True and incident["kind"] == "malfunction"
    with recorder.read() as conn:
        (opened,) = incidents.list_incidents(conn, "movie-recs", open_only=True)
    assert opened.model_version_id == shifted.model_version_id
    again = alert_recommender(recorder, shifted, by="monitor")
    assert again is not None and again["new"] is False and again["incident_id"] == opened.id

    url = recorder.engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(app, ["--home", str(recorder.home), "--db", url, "recommender", "check", "movie-recs",
                                      "--window", "1h", "--json"])
    assert result.exit_code == 0, result.output  # the last hour: the lists it really served, quiet
    assert {r["name"] for r in json.loads(result.stdout)["results"]} >= {"catalogue_coverage", "exposure_disparity"}
    bad = CliRunner().invoke(app, ["--home", str(recorder.home), "--db", url, "recommender", "check", "movie-recs",
                                   "--window", "week"])
    assert str(bad.exception) == "--window week: a number of hours or days, e.g. 24h or 7d"
