"""Search over rows PostgreSQL's ``jsonb`` refuses, and over both shapes of a served decision.

The canonical JSON allows a ``\\u0000`` in a text value (an own service may answer one, a caller may
send one); ``jsonb`` refuses it. Such a row must be logged (migration 0007) and every search filter
must still answer, on both backends, without an error and without losing the row's other values.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from govflow.governance.ledger.engine import Ledger
from tests.trail.test_search import found, log, start, version

NUL = "\x00"


@pytest.fixture
def odd_trail(ledger: Ledger) -> tuple[Ledger, dict[str, str]]:
    credit, movies = version(ledger, "credit"), version(ledger, "movies")
    t0 = start()
    rows: list[dict[str, Any]] = [
        {"system": "credit", "mv": credit, "at": t0, "subject": "s-nul", "request": "req-nul",
         "output": {"decision": 0, "score": 0.125, "note": f"a{NUL}b", "out_of_domain": ["amount"]},
         "features": {"amount": 1, "purpose": f"car{NUL}"}, "sensitive": {"sex": "female", "nick": f"x{NUL}y"}},
        {"system": "credit", "mv": credit, "at": t0 + timedelta(hours=1), "request": "req-plain",
         "output": {"decision": 1, "score": 0.875}, "features": {"amount": 2}, "sensitive": {"sex": "male"}},
        {"system": "credit", "mv": credit, "at": t0 + timedelta(hours=2), "request": "req-new-shape",
         "output": {"label": "bad", "favourable": False, "randomised": True, "score": 0.25},
         "features": {"amount": 3}, "sensitive": {"sex": "female"}},
        {"system": "movies", "mv": movies, "at": t0 + timedelta(hours=3), "request": "req-list-nul",
         "output": {"items": ["50", f"5{NUL}0"], "out_of_domain": [f"user{NUL}"]},
         "features": {"user_id": f"u{NUL}1"}, "sensitive": {"gender": f"F{NUL}"}},
        {"system": "credit", "mv": credit, "at": t0 + timedelta(hours=5), "request": "req-text-score",
         "output": {"score": "high"}},  # jsonb orders a text below every number, a boolean above
        {"system": "credit", "mv": credit, "at": t0 + timedelta(hours=6), "request": "req-true-score",
         "output": {"score": True}},
        {"system": "credit", "mv": credit, "at": t0 + timedelta(hours=7), "request": "req-null-score",
         "output": {"score": None}},  # below every text
        {"system": "credit", "mv": credit, "at": t0 + timedelta(hours=8), "request": "req-list-score",
         "output": {"score": [0.2]}},  # above every boolean
        {"system": "credit", "mv": credit, "at": t0 + timedelta(hours=9), "request": "req-null-ood",
         "output": {"out_of_domain": None}},  # a null flag is no flag, on both backends
        {"system": "movies", "mv": movies, "at": t0 + timedelta(hours=4), "request": "req-list",
         "output": {"items": ["7", "\\u0000"]}, "features": {"user_id": "u1"}, "sensitive": {"gender": "M"}},
    ]
    ids = log(ledger, rows)
    return ledger, {row["request"]: pid for pid, row in zip(ids, rows)}


@pytest.mark.parametrize(("params", "requests"), [
    ({"decision": "0"}, {"req-nul", "req-new-shape"}),
    ({"decision": "favourable"}, {"req-plain"}),
    ({"score_min": "0.1", "score_max": "0.3"}, {"req-nul", "req-new-shape"}),
    ({"score_max": "0.5"}, {"req-nul", "req-new-shape"}),
    ({"score_min": "0"}, {"req-nul", "req-new-shape", "req-plain"}),
    ({"score_min": "-1e300"}, {"req-nul", "req-new-shape", "req-plain"}),
    ({"score_max": "1e300"}, {"req-nul", "req-new-shape", "req-plain"}),
    ({"group": ["sex=female"]}, {"req-nul", "req-new-shape"}),
    ({"group": [f"nick=x{NUL}y"]}, {"req-nul"}),
    ({"group": [f"gender=F{NUL}"]}, {"req-list-nul"}),
    ({"group": ["gender!=M"]}, {"req-list-nul"}),
    ({"item": "50"}, {"req-list-nul"}),
    ({"item": f"5{NUL}0"}, {"req-list-nul"}),
    ({"item": "\\u0000"}, {"req-list"}),
    ({"user": f"u{NUL}1"}, {"req-list-nul"}),
    ({"user": "u1"}, {"req-list"}),
    ({"out_of_domain": "any"}, {"req-nul", "req-list-nul"}),
    ({"out_of_domain": f"user{NUL}"}, {"req-list-nul"}),
    ({"out_of_domain": "amount"}, {"req-nul"}),
    ({"subject_id": "s-nul"}, {"req-nul"}),
    ({"system": "credit", "decision": "0", "group": ["sex=female"]}, {"req-nul", "req-new-shape"}),
])
def test_every_filter_answers_over_rows_jsonb_refuses(odd_trail: tuple[Ledger, dict[str, str]],
                                                      params: dict[str, Any], requests: set[str]) -> None:
    ledger, ids = odd_trail
    assert {p["id"] for p in found(ledger, **params)} == {ids[r] for r in requests}


def test_a_row_with_a_nul_reads_back_exactly(odd_trail: tuple[Ledger, dict[str, str]]) -> None:
    ledger, ids = odd_trail
    (row,) = found(ledger, request_id="req-nul")
    assert row["id"] == ids["req-nul"]
    assert row["output"]["note"] == f"a{NUL}b"
