"""Exposure disparity as a monitoring alert: the recommender trained by the real flow serves one gender its
own lists and the other only best-sellers (the injected shift, logged through the trail); the disparity
fails against policy.exposure.ratio_min and opens a fundamental-rights incident like any other alert."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from govflow import canonical as canon
from govflow.flows.recommender_flow import load_production_recommender, recommend
from govflow.flows.recommender_monitor import alert_recommender, check_recommender
from govflow.governance.ledger.engine import Ledger
from govflow.governance.monitoring import incidents
from tests.recommender.synthetic import write_config
from tests.recommender.test_anomaly_monitoring import USERS, log_popular_lists, users
from tests.recommender.test_scenario import trained

pytestmark = pytest.mark.slow


def test_best_sellers_for_one_gender_open_a_fundamental_rights_incident(recorder: Ledger, tmp_path: Path) -> None:
    trained(recorder, write_config(tmp_path / "system", users=USERS, seed=5))
    everyone = users(1, USERS + 1)
    women = [u for u in everyone if u["sensitive"]["gender"] == "F"]  # type: ignore[index]
    men = [u for u in everyone if u["sensitive"]["gender"] == "M"]  # type: ignore[index]
    recommend(recorder, load_production_recommender(recorder, "movie-recs"), men, caller="shop")
    log_popular_lists(recorder, women, canon.utc_now())  # the shift: women get the best-sellers only
    found = check_recommender(recorder, "movie-recs", end=canon.utc_now() + timedelta(minutes=1),
                              window=timedelta(hours=1))
    (gender,) = [r for r in found.results if r.name == "exposure_disparity" and r.subject == "gender"]
    assert gender.passed is False and gender.details["lowest"] == "F" and gender.threshold == 0.8
    assert isinstance(gender.observed, float) and gender.observed < 0.8
    (age,) = [r for r in found.results if r.name == "exposure_disparity" and r.subject == "age"]
    assert age.passed is True  # gender is independent of age in the data: every age group loses alike
    opened = alert_recommender(recorder, found, by="monitor")
    assert opened is not None and opened["new"] is True and opened["kind"] == "fundamental_rights"
    assert any(f.startswith("exposure_disparity (gender): ") for f in opened["findings"])
    with recorder.read() as conn:
        (incident,) = incidents.list_incidents(conn, "movie-recs", open_only=True)
    assert incident.id == opened["incident_id"] and incident.model_version_id == found.model_version_id
