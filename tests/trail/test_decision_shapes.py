"""Decisions logged in either shape read alike (#16 item 6): the current ``{"decision": LABEL,
"favourable": bool, "score", "score_of"}`` and an earlier record's ``{"decision": 0|1, "score"}``
(1 favourable), on SQLite and PostgreSQL: search, monitoring, incident impact, the dashboard."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from govflow.governance.ledger.engine import Ledger
from govflow.governance.monitoring.impact import impact
from govflow.governance.monitoring.results import Window, load_window
from govflow.governance.trail.dashboard_figures import decision_of
from govflow.governance.trail.decisions import favourable_of, labels_for, read_decision
from govflow.governance.trail.search import PredictionQuery, search_predictions
from govflow.governance.trail.trace import trace_prediction
from tests.trail.test_search import log, start, version

# positive_label 0: the label 1 is the UNfavourable outcome in the current shape, the favourable one in the old
OUTPUTS = [{"decision": 1, "score": 0.8}, {"decision": 0, "score": 0.3},
           {"decision": 0, "favourable": True, "score": 0.9, "score_of": 0},
           {"decision": 1, "favourable": False, "score": 0.2, "score_of": 0}]
FAVOURABLE = [True, False, True, False]


def test_both_shapes_read_alike_in_the_trail(ledger: Ledger) -> None:
    mv = version(ledger, "credit")
    t0 = start()
    ids = log(ledger, [{"system": "credit", "mv": mv, "at": t0 + timedelta(minutes=i), "output": out,
                        "sensitive": {"sex": "female"}} for i, out in enumerate(OUTPUTS)])
    with ledger.read() as conn:
        favourable = {p["id"] for p in search_predictions(conn, PredictionQuery(decision=1)).predictions}
        unfavourable = {p["id"] for p in search_predictions(conn, PredictionQuery(decision=0)).predictions}
        counted = impact(conn, mv)
        window = load_window(conn, "credit", Window(t0, t0 + timedelta(hours=1), True))
        traced = [trace_prediction(conn, pid)["prediction"]["decision"] for pid in ids]
    assert favourable == {ids[0], ids[2]} and unfavourable == {ids[1], ids[3]}
    assert (counted.decisions, counted.favourable) == (4, 2)
    assert window["decision"].tolist() == [1, 0, 1, 0]
    assert [decision_of(o) for o in OUTPUTS] == [1, 0, 1, 0]
    assert [favourable_of(o) for o in OUTPUTS] == FAVOURABLE
    assert traced == [{"decision": 1, "favourable": True, "score": 0.8}, {"decision": 0, "favourable": False, "score": 0.3},
                      OUTPUTS[2], OUTPUTS[3]]


def test_an_earlier_record_reads_in_the_current_shape() -> None:
    assert read_decision({"decision": 1, "score": 0.8}, positive_label="good") == {
        "decision": "good", "favourable": True, "score": 0.8, "score_of": "good"}
    assert read_decision({"decision": 0, "score": 0.3}) == {"decision": 0, "favourable": False, "score": 0.3}
    assert read_decision(OUTPUTS[3]) == OUTPUTS[3]
    assert read_decision({"items": ["a"], "scores": [1.0]}) is None and favourable_of(["a"]) is None


def test_the_labels_a_version_decides_between() -> None:
    assert labels_for("good", ["bad", "good"]).unfavourable == "bad"
    assert labels_for(0, None).unfavourable == 1 and labels_for(True, None).unfavourable is False
    assert labels_for("approved", ["approved", "declined", "referred"]).unfavourable == "not approved"
    assert labels_for(0, None).outputs(np.array([1, 0]), np.array([0.7, 0.4])) == [
        {"decision": 0, "favourable": True, "score": 0.7, "score_of": 0},
        {"decision": 1, "favourable": False, "score": 0.4, "score_of": 0}]
