"""The recommendation scenario end to end on synthetic ratings: the recorded training flow registers
a version, humans approve and promote it, recommendations are served through the prediction trail,
and exposure by user group is computed from what was logged."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from govflow import canonical as canon
from govflow.errors import ComplianceBlocked
from govflow.flows.recommender_flow import load_production_recommender, recommend, train_recommender_flow
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import CheckResultRow, Decision, Prediction, PredictionPayload, Run
from govflow.governance.registry import versions as registry
from govflow.governance.trail import dashboard_data as dd
from govflow.governance.trail.predictions import RecordError

ROLES = ["model_owner", "risk_officer"]
pytestmark = pytest.mark.slow


def trained(recorder: Ledger, config_file: Path) -> str:
    outcome = train_recommender_flow(str(config_file))
    assert outcome.gate == "pass", outcome.evaluation.summary
    for role in ROLES:
        registry.approve(recorder, outcome.version, approver=f"{role} person", role=role, reason="evaluation reviewed",
                         required_roles=ROLES)
    registry.promote(recorder, outcome.version, by="tester", required_roles=ROLES)
    return outcome.version


def test_train_register_serve_and_measure_exposure(recorder: Ledger, config_file: Path) -> None:
    version = trained(recorder, config_file)
    assert version == "movie-recs:1"
    with recorder.read() as conn:
        ref = registry.resolve(conn, version)
        row = registry.version_row(conn, ref.id)
        assert conn.execute(select(Decision.outcome).where(Decision.model_version_id == ref.id)).scalar_one() == "pass"
        linked = conn.execute(select(CheckResultRow.subject).where(CheckResultRow.model_version_id == ref.id)).scalars().all()
        flow_run = conn.execute(select(Run.name).where(Run.id == row["training_run_id"])).scalar_one()
    assert json.loads(row["config_snapshot"])["kind"] == "recommender"
    assert flow_run == "train-recommender" and "overall" in linked and "gender=F" in linked
    assert registry.attachment(recorder, ref.id, "item_catalog") is not None

    served = load_production_recommender(recorder, "movie-recs")
    requests = [(1, "F", 19), (2, "F", 44), (3, "M", 23), (4, "M", 62), (999, "M", 30)]
    body = recommend(recorder, served, [{"user_id": u, "sensitive": {"gender": g, "age": a}} for u, g, a in requests],
                     caller="test")
    assert body["model_version"] == "movie-recs:1" and len(body["predictions"]) == 5
    assert [p["cold_start"] for p in body["predictions"]] == [False] * 4 + [True]
    assert all(len(p["items"]) == 5 for p in body["predictions"])

    with recorder.read() as conn:
        logged = conn.execute(select(Prediction.id, Prediction.output_json, Prediction.model_version_id,
                                     PredictionPayload.features_json, PredictionPayload.sensitive_json)
                              .join(PredictionPayload, PredictionPayload.payload_hash == Prediction.payload_hash)
                              .where(Prediction.request_id == body["request_id"])).all()
    by_id = {r[0]: r for r in logged}
    for answered, (user, gender, age) in zip(body["predictions"], requests):
        _, output_json, mv_id, features_json, sensitive_json = by_id[answered["prediction_id"]]
        assert json.loads(output_json)["items"] == answered["items"]  # the prediction row holds the list
        assert mv_id == ref.id
        assert json.loads(features_json) == {"user_id": user}  # the model's input only
        assert json.loads(sensitive_json) == {"gender": gender, "age": age}  # stored apart

    # exposure on the dashboard equals the rank-weighted shares computed here from the answers
    with recorder.read() as conn:
        data = dd.load_dashboard(conn, "movie-recs", end=canon.utc_now() + timedelta(minutes=1))
    assert data.exposure is not None and data.exposure.overall.requests == 5
    expected: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for answered, (_, gender, _) in zip(body["predictions"], requests):
        for rank, item in enumerate(answered["items"], start=1):
            expected[gender][item] += 1 / math.log2(rank + 1)
    for group in ("F", "M"):
        found = next(g for g in data.exposure.groups if (g.attribute, g.group) == ("gender", group))
        total = sum(expected[group].values())
        assert found.shares == pytest.approx({i: v / total for i, v in expected[group].items()})
    ages = {g.group: g.requests for g in data.exposure.groups if g.attribute == "age"}
    assert ages == {"[0, 25)": 2, "[35, 50)": 1, "[50, 120)": 1, "[25, 35)": 1}
    assert not [f for f in data.flags if f.kind is dd.FlagKind.UNAPPROVED_SERVING]


def test_an_unseen_attribute_is_served_and_flagged_or_with_reject_refused(recorder: Ledger, config_file: Path) -> None:
    trained(recorder, config_file)  # serving.out_of_domain at its default: flag, as govflow serve (#17 item 4)
    served = load_production_recommender(recorder, "movie-recs")
    assert served.schema.out_of_domain == "flag"
    body = recommend(recorder, served, [{"user_id": 1, "sensitive": {"gender": "X"}}, {"user_id": 2}], caller="test")
    assert [p.get("out_of_domain") for p in body["predictions"]] == [["gender"], None]
    with recorder.read() as conn:
        logged = {r.id: json.loads(r.output_json) for r in conn.execute(select(Prediction.id, Prediction.output_json))}
    assert logged[body["predictions"][0]["prediction_id"]]["out_of_domain"] == ["gender"]


def test_bad_requests_and_a_retired_version(recorder: Ledger, config_file: Path) -> None:
    with config_file.open("a", encoding="utf-8") as handle:
        handle.write("serving: {out_of_domain: reject}\n")  # refuse a value never seen in training
    trained(recorder, config_file)
    served = load_production_recommender(recorder, "movie-recs")
    with pytest.raises(RecordError) as e:
        recommend(recorder, served, [{"user_id": 1, "sensitive": {"gender": "X"}}], caller="test")
    assert str(e.value) == 'records[0].sensitive.gender: "X" is not one of the values the model was trained on ("F", "M")'
    with pytest.raises(RecordError, match="records\\[0\\].user_id: expected an integer, got string"):
        recommend(recorder, served, [{"user_id": "1"}], caller="test")
    with pytest.raises(RecordError, match=r"records\[0\].gender: a sensitive attribute"):
        recommend(recorder, served, [{"user_id": 1, "gender": "F"}], caller="test")
    with recorder.write("model.suspended", "test") as w:
        registry.add_stage(w, served.version.id, "suspended", "tester", "incident")
    with pytest.raises(ComplianceBlocked, match="movie-recs:1 is no longer in production"):
        recommend(recorder, served, [{"user_id": 1}], caller="test")
    with recorder.read() as conn:
        assert conn.execute(select(Prediction.id)).first() is None  # nothing half-written
