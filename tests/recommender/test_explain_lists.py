"""Explanations of a recommender's lists: each recommended item's score split exactly over the items the
user rated, recorded the first time without the user's history, a cold start said as such, an erased
input refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from govflow.cli.main import app
from govflow.flows.models.explaining import explain_prediction
from govflow.flows.recommender_flow import load_production_recommender, recommend
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import AuditEntry
from govflow.governance.trail import explain, retention
from govflow.governance.trail.attribution import ITEM_FACTORS
from tests.recommender.test_scenario import trained


def served_lists(ledger: Ledger, users: list[int]) -> list[dict[str, object]]:
    served = load_production_recommender(ledger, "movie-recs")
    body = recommend(ledger, served, [{"user_id": u, "sensitive": {"gender": "F", "age": 30}, "subject_id": f"user-{u}"}
                                      for u in users], caller="shop")
    return body["predictions"]


def explanations_recorded(ledger: Ledger) -> int:
    with ledger.read() as conn:
        return int(conn.execute(select(func.count()).select_from(AuditEntry)
                                .where(AuditEntry.event_type == explain.EVENT_TYPE)).scalar_one())


def test_each_recommended_item_is_split_exactly_over_the_rated_items(recorder: Ledger, config_file: Path) -> None:
    trained(recorder, config_file)
    (listed,) = served_lists(recorder, [1])
    model: Any = load_production_recommender(recorder, "movie-recs").model
    answer = explain_prediction(recorder, str(listed["prediction_id"]), by="auditor")
    assert answer["method"] == ITEM_FACTORS and answer["cold_start"] is False and answer["user"] == "1"
    assert [e["item"] for e in answer["items"]] == listed["items"]
    rated = {str(model.items[j]) for j in model.seen["1"]}
    q = np.asarray(model.item_factors, dtype=np.float64)
    column = {str(v): j for j, v in enumerate(model.items)}
    for entry, logged in zip(answer["items"], listed["scores"]):  # type: ignore[call-overload]
        named = sum(t["contribution"] for t in entry["because"])
        assert named + entry["other_rated_items"] + entry["remainder"] == pytest.approx(entry["score"], abs=1e-9)
        assert entry["score"] == pytest.approx(logged, abs=1e-5)  # the score that was served
        assert abs(entry["remainder"]) < 1e-4  # the user's factors are their rated items' factors, up to rounding
        assert {t["item"] for t in entry["because"]} <= rated and entry["item"] not in rated
        strongest = entry["because"][0]
        assert strongest["contribution"] == pytest.approx(
            float(q[:, column[strongest["item"]]] @ q[:, column[entry["item"]]]), abs=1e-9)
        assert strongest["contribution"] == max(float(q[:, column[r]] @ q[:, column[entry["item"]]]) for r in rated)
        sizes = [t["contribution"] for t in entry["because"]]
        assert sizes == sorted(sizes, reverse=True) and len(sizes) == 3
    first = answer["items"][0]
    top = first["because"][0]
    def title(item: str) -> str:
        return f"'Film {item} ({1990 + int(item) % 10})' (item {item})"

    assert answer["text"][1].startswith(f"1. {title(first['item'])}, score {first['score']:.3f}: mostly because user 1 "
                                        f"rated {title(top['item'])} ({top['contribution']:+.3f})")
    assert answer["text"][0] == (f"user 1 rated {len(rated)} items when this version was trained; items already rated "
                                 "are never recommended; each recommended item's score is the sum of one term per rated item")


def test_recorded_once_without_the_users_history(recorder: Ledger, config_file: Path) -> None:
    trained(recorder, config_file)
    (listed,) = served_lists(recorder, [2])
    before = explanations_recorded(recorder)
    first = explain_prediction(recorder, str(listed["prediction_id"]), by="auditor")
    second = explain_prediction(recorder, str(listed["prediction_id"]), by="someone else")
    assert explanations_recorded(recorder) == before + 1 and first["recorded"] == second["recorded"]
    body = first["recorded"]["body"]
    assert body["method"] == ITEM_FACTORS and body["text_sha256"] == explain.text_hash(first["text"])
    assert [k["item"] for k in body["items"]] == listed["items"]
    assert [k["strongest"] for k in body["items"]] == [[t["contribution"] for t in e["because"]] for e in first["items"]]
    stored = json.loads(recorder.artifacts.read(first["recorded"]["artifact"]))
    assert "because" not in json.dumps(stored) and set(stored["items"][0]) == {
        "item", "score", "rated_items_total", "remainder", "strongest", "rated_by_training_users"}
    url = recorder.engine.url.render_as_string(hide_password=False)
    shown = CliRunner().invoke(app, ["--home", str(recorder.home), "--db", url, "explain", str(listed["prediction_id"])])
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.splitlines()[:2] == [
        f"prediction {listed['prediction_id']} by movie-recs:1 at {first['served_at']}: 5 items recommended to user 2",
        f"method: {ITEM_FACTORS}; recorded in audit entry {first['recorded']['audit_seq']} at {first['recorded']['at']}"]
    assert shown.stdout.splitlines()[2:] == [f"  {line}" for line in first["text"]]


def test_a_cold_start_is_said_and_an_erased_input_refused(recorder: Ledger, config_file: Path) -> None:
    trained(recorder, config_file)
    cold, erased = served_lists(recorder, [999, 3])
    answer = explain_prediction(recorder, str(cold["prediction_id"]), by="auditor")
    assert answer["cold_start"] is True and [e["item"] for e in answer["items"]] == cold["items"]
    counts = [e["rated_by_training_users"] for e in answer["items"]]
    assert counts == sorted(counts, reverse=True) and counts[0] > 0
    assert answer["text"][0].startswith("user 999 was not among the ") and "(cold start)" in answer["text"][0]
    retention.erase_subject(recorder, "user-3", reason="art. 17 request", by="dpo")
    with pytest.raises(explain.PayloadErased) as caught:
        explain_prediction(recorder, str(erased["prediction_id"]), by="auditor")
    assert str(caught.value).startswith(f"the input of prediction {erased['prediction_id']} was erased (erasure, ")
