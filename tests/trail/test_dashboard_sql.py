"""The dashboard's figures summed in SQL (`dashboard_sql`) are the figures the records give, row by row.

Each output shape a decision is read from (and the ones that are no decision), attributes missing,
outside their bins or not configured, payloads missing, several versions and windows: the cells the
database returns, tallied, equal `requests_over_time` and `group_rates` over every record, on SQLite
and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from govflow.governance.ledger.engine import Ledger
from govflow.governance.trail import dashboard_data as dd
from govflow.governance.trail import dashboard_sql, dashboard_sums
from govflow.web.dashboard import dashboard_router
from tests.web.dashboard import scenario
from tests.web.dashboard.test_routes import bearer

DAY = timedelta(days=1)
ROWS = 200  # 37 minutes apart: five days and a bit
OUTPUTS: list[Any] = [
    {"decision": "good", "favourable": True, "score": 0.7, "score_of": "good"},
    {"decision": "bad", "favourable": False, "score": 0.2, "score_of": "good", "out_of_domain": ["age"]},
    {"decision": "good", "favourable": "yes", "score_of": "good"},  # no readable flag: no decision
    {"decision": 1, "score": 0.8}, {"decision": 0}, {"decision": True}, {"decision": False},
    {"decision": 1.0}, {"decision": "1"}, {"decision": 0.7},  # none of these is the old 0/1
    {"favourable": 1, "decision": 0},  # not a boolean flag: the old decision decides
    {"prediction": "good"}, {"prediction": "bad"}, {"prediction": 1}, {"prediction": None},
    {"prediction": "good", "score_of": "good"},  # the current shape without its flag: no decision
    {"items": ["a", "b"]}, ["a", "b"], "text", 3, None, {"favourable": True, "out_of_domain": {"age": 130}},
    {"favourable": True, "out_of_domain": None}, {"favourable": False, "out_of_domain": None},  # no flag
]
SENSITIVE: list[dict[str, Any]] = [
    {"sex": "female", "age": 22}, {"sex": "male", "age": 40}, {"sex": "male", "age": 130},
    {"sex": None, "age": "n/a"}, {"sex": "female", "age": 24.5, "region": "north"}, {},
]


@pytest.fixture
def logged(ledger: Ledger) -> tuple[Ledger, datetime]:
    first, second = scenario.register(ledger), scenario.register(ledger)
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - 6 * DAY
    rows = [scenario.Logged(start + timedelta(minutes=37 * i), OUTPUTS[i % len(OUTPUTS)], SENSITIVE[i % len(SENSITIVE)])
            for i in range(ROWS)]
    scenario.log(ledger, first, rows[::2])
    scenario.log(ledger, second, rows[1::2])
    return ledger, start


def from_records(ledger: Ledger, start: datetime, end: datetime, bucket: timedelta, positive: Any,
                 labels: dict[str, str]) -> tuple[list[dd.Count], list[dd.Rate]]:
    spec = dd.sensitive_spec(scenario.SNAPSHOT)
    with ledger.read() as conn:
        records = dd.latest_records(conn, "credit-scoring", start, end, max_rows=10**6, labels=labels,
                                    positive_label=positive, spec=spec)
    return dd.requests_over_time(records, bucket), dd.group_rates(records, bucket)


@pytest.mark.parametrize("positive", ["good", 1, None])
@pytest.mark.parametrize("bucket", [DAY, timedelta(hours=6), timedelta(minutes=30)])
def test_sql_cells_tally_to_the_records_figures(logged: tuple[Ledger, datetime], positive: Any, bucket: timedelta) -> None:
    """From the hourly sums where they can say it (the snapshot's positive label, whole hours), else
    from the rows; either way the records' figures."""
    ledger, start = logged
    end = start + 8 * DAY
    spec = dd.sensitive_spec(scenario.SNAPSHOT)
    with ledger.read() as conn:
        labels = {v["id"]: f"credit-scoring:{v['version']}" for v in dd._versions(conn, "credit-scoring")}
        tallied = dd.tally(conn, "credit-scoring", start, end, bucket, labels=labels, positive_label=positive, spec=spec)
        from_rows = dd.tally_rows(conn, "credit-scoring", start, end, bucket, labels=labels, positive_label=positive,
                                  spec=spec)
        summed = dashboard_sums.from_rollup(conn, "credit-scoring", start, end, bucket, labels=labels,
                                            positive_label=positive, spec=spec)
        cells = dashboard_sql.cells(conn, "credit-scoring", start=start, size=bucket, end=end)
    assert (summed is not None) == (positive == "good" and bucket >= timedelta(hours=1))
    assert tallied == (summed or from_rows) and from_rows.counts == tallied.counts
    counts, rates = from_records(ledger, start, end, bucket, positive, labels)
    assert (tallied.counts, tallied.rates) == (counts, rates)
    assert tallied.total == tallied.loaded == ROWS
    assert sum(c.n for c in cells) == ROWS
    assert tallied.lists == sum(i % len(OUTPUTS) in (16, 17) for i in range(ROWS))
    flagged = sum(i % len(OUTPUTS) in (1, 21) for i in range(ROWS))  # odd rows: the second version's
    assert sorted(tallied.served.values()) == [(ROWS // 2, 0), (ROWS // 2, flagged)]


def test_the_page_is_the_records_page(logged: tuple[Ledger, datetime]) -> None:
    """load_dashboard's figures are the pure functions' over the same rows (flags included)."""
    ledger, start = logged
    with ledger.read() as conn:
        data = dd.load_dashboard(conn, "credit-scoring", end=start + 8 * DAY, period=timedelta(days=8), bucket=DAY,
                                 min_group_size=1)
    counts, rates = from_records(ledger, data.start, data.end, DAY, "good", {v.id: v.label for v in data.versions})
    assert (list(data.counts), list(data.rates)) == (counts, rates)
    ratios = dd.rate_ratios(rates, 1)
    assert list(data.ratios) == ratios
    expected = dd.fairness_flags(rates, ratios, DAY, data.rules, data.name)
    assert [f for f in data.flags if f.kind is not dd.FlagKind.UNAPPROVED_SERVING] == expected
    flagged = sum(i % len(OUTPUTS) in (1, 21) for i in range(ROWS))
    assert [(v.requests, v.out_of_domain) for v in data.versions] == [(ROWS // 2, 0), (ROWS // 2, flagged)]


def test_python_reads_one_row_per_cell(ledger: Ledger) -> None:
    version = scenario.register(ledger)
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - DAY
    scenario.log(ledger, version, [scenario.Logged(start + timedelta(seconds=i), OUTPUTS[i % 2], SENSITIVE[i % 2])
                                   for i in range(300)])
    with ledger.read() as conn:
        cells = dashboard_sql.cells(conn, "credit-scoring", start=start, size=DAY, end=start + DAY)
    assert sorted((c.decision, c.sensitive, c.n, c.out_of_domain) for c in cells) == [
        (0, '{"age":40,"sex":"male"}', 150, 150), (1, '{"age":22,"sex":"female"}', 150, 0)]


def test_a_bound_counts_the_latest_and_the_period_from_the_indexes(logged: tuple[Ledger, datetime]) -> None:
    """Windows shorter than an hour are counted from the rows: the bound holds there."""
    ledger, start = logged
    half = timedelta(minutes=30)
    with ledger.read() as conn:
        whole = dd.load_dashboard(conn, "credit-scoring", end=start + 8 * DAY, period=timedelta(days=8), bucket=half)
        data = dd.load_dashboard(conn, "credit-scoring", end=start + 8 * DAY, period=timedelta(days=8), bucket=half,
                                 max_rows=25)
        records = dd.latest_records(conn, "credit-scoring", data.start, data.end, max_rows=25,
                                    labels={v.id: v.label for v in data.versions}, positive_label="good",
                                    spec=dd.sensitive_spec(scenario.SNAPSHOT))
    assert (data.total, data.loaded, data.truncated) == (whole.total, 25, True)
    assert list(data.counts) == dd.requests_over_time(records, half, data.anchor)
    assert list(data.rates) == dd.group_rates(records, half, data.anchor)
    assert data.versions == whole.versions  # requests and out-of-domain counts: the whole period


def test_exposure_reads_a_sample_of_the_latest_lists(sqlite_ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    start = datetime.now(UTC) - DAY
    scenario.recommender(sqlite_ledger, start)
    monkeypatch.setattr(dd, "EXPOSURE_SAMPLE", 10)
    with sqlite_ledger.read() as conn:
        data = dd.load_dashboard(conn, "movie-recs", end=start + DAY, period=timedelta(days=2))
    assert (data.total, data.exposure_sample) == (40, 10)
    assert data.exposure is not None and data.exposure.overall.requests == 10
    app = FastAPI()
    app.include_router(dashboard_router(sqlite_ledger, clock=lambda: start + DAY))
    page = TestClient(app).get("/dashboard/movie-recs?days=2", headers=bearer(sqlite_ledger))
    assert "Read from the period's latest 10 lists (a sample when it served more)." in page.text
