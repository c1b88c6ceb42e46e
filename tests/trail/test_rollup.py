"""The dashboard's hourly sums (`govflow.governance.trail.rollup`, #19 item 3).

Kept in the transaction of every write that changes what they count (a batch of predictions, by the
batch path or any other; a purge), so at any time they equal a recount of the chained predictions;
the system page reads them instead of the rows, and gives the records' own figures. An insider who
edits, plants or removes a cell (to hide a disparity from the page) is named by `govflow verify`,
and by `verify --since` when the cell's hour had predictions appended after the head. On SQLite and
PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update

from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.rollup_table import PredictionRollup
from govflow.governance.ledger.schema import Prediction, PredictionPayload
from govflow.governance.ledger.verify import verify
from govflow.governance.trail import dashboard_data as dd
from govflow.governance.trail import dashboard_sums, retention, rollup
from govflow.governance.trail.records import PredictionRecord
from tests.web.dashboard import scenario

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
SYSTEM = "credit-scoring"
ROLLUP = "outside the chain: the dashboard's hourly sums (prediction_rollup): "


def midnight(days_ago: int) -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - days_ago * DAY


def rows(start: datetime, n: int, step: timedelta = timedelta(minutes=13)) -> list[scenario.Logged]:
    """Favourable for the old, less so for the young; one of every seven decides nothing."""
    logged = []
    for i in range(n):
        age = (19, 23, 41, 67)[i % 4]
        output: Any = ({"prediction": "good", "score": 0.5} if i % 7 == 0 else
                       {"decision": "good", "favourable": age > 25 or i % 3 == 0, "score": 0.6, "score_of": "good"})
        if i % 11 == 0:
            output["out_of_domain"] = ["age"]
        logged.append(scenario.Logged(start + i * step, output, {"sex": ("f", "m")[i % 2], "age": age},
                                      {"subject": f"s{i % 5}"}))
    return logged


def consistent(ledger: Ledger) -> None:
    with ledger.read() as conn:
        assert rollup.stored(conn) == rollup.recount(conn).nonzero()


def page_is_the_records(ledger: Ledger, end: datetime, bucket: timedelta, *, from_rollup: bool) -> dd.DashboardData:
    """The system page's figures are the pure functions' over every record; read from the sums or not."""
    with ledger.read() as conn:
        data = dd.load_dashboard(conn, SYSTEM, end=end, period=timedelta(days=6), bucket=bucket, min_group_size=1)
        labels = {v.id: v.label for v in data.versions}
        newest = scenario.SNAPSHOT if len(data.versions) < 3 else OTHER_BINS
        spec = dd.sensitive_spec(newest)
        summed = dashboard_sums.from_rollup(conn, SYSTEM, data.start, end, bucket, labels=labels, positive_label="good",
                                            spec=spec)
        records = dd.latest_records(conn, SYSTEM, data.start, end, max_rows=10**6, labels=labels, positive_label="good",
                                    spec=spec)
    assert (summed is not None) == from_rollup
    assert list(data.counts) == dd.requests_over_time(records, bucket, data.anchor)
    assert list(data.rates) == dd.group_rates(records, bucket, data.anchor)
    assert (data.total, data.loaded) == (len(records), len(records))
    return data


OTHER_BINS: dict[str, Any] = {**scenario.SNAPSHOT, "data": {**scenario.SNAPSHOT["data"],
                                                           "sensitive_features": ["sex", {"column": "age", "bins": [0, 30, 120]}]}}


def test_the_sums_follow_every_way_predictions_are_written(ledger: Ledger) -> None:
    version = scenario.register(ledger)
    start = midnight(5)
    scenario.log(ledger, version, rows(start, 300))  # the batch path (its records)
    with ledger.write("predictions.served", SYSTEM) as w:  # any other writer: counted from its rows at commit
        for r in rows(start + 2 * HOUR, 20):
            record = PredictionRecord(request_id="other", system=SYSTEM, model_version_id=version.id, output=r.output,
                                      features={}, sensitive={}, latency_ms=1.0, served_at=r.served_at, caller="t")
            w.add(Prediction, **{c: getattr(record, c) for c in ("id", "request_id", "system", "model_version_id",
                                                                 "output_json", "latency_ms", "served_at", "caller",
                                                                 "payload_hash")})
            w.conn.execute(insert(PredictionPayload), {
                "payload_hash": record.payload_hash, "salt": record.salt, "features_json": record.features_json,
                "sensitive_json": record.sensitive_json, "subject_id": None, "created_at": r.served_at})
    consistent(ledger)
    with ledger.read() as conn:
        cells = rollup.rows(conn, SYSTEM, start, start + 6 * DAY)
    assert sum(c.n for c in cells if c.attribute == "") == 320
    assert {(c.attribute, c.label) for c in cells} == {("", "all"), ("sex", "f"), ("sex", "m"),
                                                      ("age", "[0, 25)"), ("age", "[25, 120)")}
    assert sum(c.out_of_domain for c in cells) == sum(i % 11 == 0 for i in range(300)) + sum(i % 11 == 0 for i in range(20))
    assert verify(ledger).intact


@pytest.mark.parametrize("bucket", [DAY, 6 * HOUR, HOUR])
def test_the_page_from_the_sums_is_the_records_page(ledger: Ledger, bucket: timedelta) -> None:
    version = scenario.register(ledger)
    start = midnight(5)
    scenario.log(ledger, version, rows(start, 400))
    data = page_is_the_records(ledger, start + 6 * DAY, bucket, from_rollup=True)
    assert data.versions[0].out_of_domain == sum(i % 11 == 0 for i in range(400))


def test_the_hour_in_progress_counts_only_what_was_served_before_the_end(ledger: Ledger) -> None:
    version = scenario.register(ledger)
    start = midnight(2)
    scenario.log(ledger, version, rows(start, 100, step=timedelta(minutes=1)))  # 100 minutes from midnight
    end = start + HOUR + timedelta(minutes=10, seconds=30)  # 71 served before it, 29 after, in the same hour
    data = page_is_the_records(ledger, end, HOUR, from_rollup=True)
    assert data.total == 71
    later = start + 2 * HOUR + timedelta(minutes=5)  # nothing served after it: the hour's sums whole
    assert page_is_the_records(ledger, later, HOUR, from_rollup=True).total == 100


def test_a_version_with_other_bins_is_counted_from_the_rows(ledger: Ledger) -> None:
    """The sums bin as each version's config says; a page binning otherwise counts the rows instead."""
    old, also_old = scenario.register(ledger), scenario.register(ledger)
    start = midnight(5)
    scenario.log(ledger, old, rows(start, 200))
    scenario.log(ledger, also_old, rows(start + DAY, 50))
    page_is_the_records(ledger, start + 6 * DAY, DAY, from_rollup=True)
    newer = scenario.register(ledger, snapshot=OTHER_BINS)  # ages now [0, 30) and [30, 120)
    scenario.log(ledger, newer, rows(start + 2 * DAY, 100))
    data = page_is_the_records(ledger, start + 6 * DAY, DAY, from_rollup=False)
    assert {r.group for r in data.rates if r.attribute == "age"} == {"[0, 30)", "[30, 120)"}
    consistent(ledger)


def test_an_erasure_takes_the_person_out_of_their_groups_not_out_of_the_count(ledger: Ledger) -> None:
    version = scenario.register(ledger)
    start = midnight(5)
    logged = rows(start, 60)
    records = [PredictionRecord(request_id=f"r{i}", system=SYSTEM, model_version_id=version.id, output=r.output,
                                features={}, sensitive=r.sensitive, latency_ms=1.0, served_at=r.served_at, caller="t",
                                subject_id=f"s{i % 5}") for i, r in enumerate(logged)]
    from govflow.governance.trail.predictions import write_predictions

    write_predictions(ledger, records, require_production=False)
    before = page_is_the_records(ledger, start + 6 * DAY, DAY, from_rollup=True)
    result = retention.erase_subject(ledger, "s1", reason="DSR-7")
    assert result.count == 12
    consistent(ledger)
    after = page_is_the_records(ledger, start + 6 * DAY, DAY, from_rollup=True)
    assert after.total == before.total == 60
    erased = sum(1 for i in range(60) if i % 5 == 1)  # each decided (the positive label decides the others)
    assert sum(r.n for r in after.rates if r.attribute == "sex") == sum(r.n for r in before.rates if r.attribute == "sex") - erased
    assert verify(ledger).intact


# --- attacks -------------------------------------------------------------------------------------

@pytest.fixture
def logged(ledger: Ledger) -> tuple[Ledger, datetime]:
    version = scenario.register(ledger)
    start = midnight(5)
    scenario.log(ledger, version, rows(start, 300))
    assert verify(ledger).intact
    return ledger, start


def cell(ledger: Ledger, attribute: str, label: str, hour: datetime | None = None) -> dict[str, Any]:
    """An unfavourable cell of a group (in ``hour``, else the fullest)."""
    t = PredictionRollup
    where = [t.attribute == attribute, t.label == label, t.decision == 0] + ([t.hour == hour] if hour else [])
    with ledger.read() as conn:
        return dict(conn.execute(select(t).where(*where).order_by(t.n.desc(), t.hour).limit(1)).mappings().one())


def key_of(row: dict[str, Any]) -> list[Any]:
    t = PredictionRollup
    return [t.system == row["system"], t.hour == row["hour"], t.model_version_id == row["model_version_id"],
            t.decision == row["decision"], t.cell == row["cell"]]


def edit(ledger: Ledger, row: dict[str, Any], **values: Any) -> None:
    with ledger.engine.begin() as conn:  # no trigger guards the sums: any writer can change them
        assert conn.execute(update(PredictionRollup).where(*key_of(row)).values(**values)).rowcount == 1


def named(ledger: Ledger, since: str | None = None) -> list[str]:
    return [str(f) for f in verify(ledger, since=since).findings]


def describe(row: dict[str, Any], want: int, have: int) -> str:
    hour = row["hour"].strftime("%Y-%m-%dT%H:00:00.000000Z")
    return (f"{ROLLUP}{SYSTEM}, hour {hour}, version {row['model_version_id']}, unfavourable: the summary holds "
            f"{have}, the predictions give {want}: changed behind the ledger (the system page shows these figures)")


def test_a_group_cell_lowered_to_hide_a_disparity_is_named(logged: tuple[Ledger, datetime]) -> None:
    ledger, _ = logged
    young = cell(ledger, "age", "[0, 25)")
    edit(ledger, young, n=0)
    assert named(ledger) == [describe(young, young["n"], 0)]


def test_a_cell_removed_or_planted_is_named(logged: tuple[Ledger, datetime]) -> None:
    ledger, start = logged
    young = cell(ledger, "age", "[0, 25)")
    with ledger.engine.begin() as conn:  # no trigger guards the sums: any writer can change them
        conn.execute(delete(PredictionRollup).where(*key_of(young)))
    planted = {**young, "hour": start + 5 * DAY, "n": 40}  # an hour nothing was served in
    with ledger.engine.begin() as conn:
        conn.execute(insert(PredictionRollup), planted)
    assert named(ledger) == [describe(young, young["n"], 0), describe(planted, 0, 40)]


def test_verify_since_recounts_the_hours_appended_to(logged: tuple[Ledger, datetime]) -> None:
    ledger, start = logged
    head = verify(ledger)
    scenario.log(ledger, scenario.register(ledger), rows(start + 3 * HOUR, 4))  # after the head, all in hour 3
    appended_to, untouched = cell(ledger, "sex", "f", start + 3 * HOUR), cell(ledger, "sex", "m", start)
    for row, extra in ((appended_to, 9), (untouched, 5)):
        edit(ledger, row, n=row["n"] + extra)
    assert named(ledger, since=head.head_hash) == [describe(appended_to, appended_to["n"], appended_to["n"] + 9)]
    # A cell of an hour nothing was appended to since the head is left to the full verify, which names both.
    assert named(ledger) == [describe(untouched, untouched["n"], untouched["n"] + 5),
                             describe(appended_to, appended_to["n"], appended_to["n"] + 9)]


def test_a_ledger_migrated_with_predictions_has_its_sums_counted(ledger: Ledger, tmp_path: Any) -> None:
    from alembic import command
    from alembic.config import Config

    from govflow.governance.ledger.engine import MIGRATIONS

    version = scenario.register(ledger)
    scenario.log(ledger, version, rows(midnight(5), 200))
    with ledger.engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        command.downgrade(config, "0010")
    url = ledger.engine.url.render_as_string(hide_password=False)
    home = ledger.home
    ledger.close()
    again = Ledger.open(None if url.startswith("sqlite") else url, home)  # migrated on open: the sums counted
    try:
        consistent(again)
        with again.read() as conn:
            assert sum(c.n for c in rollup.rows(conn, SYSTEM, midnight(6), midnight(-1)) if c.attribute == "") == 200
        assert verify(again).intact
    finally:
        again.close()


def test_verify_says_how_many_sums_it_recounted(sqlite_ledger: Ledger) -> None:
    import json

    from tests.ledger.helpers import govflow

    scenario.log(sqlite_ledger, scenario.register(sqlite_ledger), rows(midnight(1), 30))
    with sqlite_ledger.read() as conn:
        cells = len(rollup.stored(conn))
    done = govflow("verify", home=sqlite_ledger.home)
    assert done.returncode == 0, done.stderr
    assert f", {cells} of the dashboard's hourly sums recounted" in done.stdout.splitlines()[0]
    as_json = govflow("verify", "--json", home=sqlite_ledger.home)
    assert json.loads(as_json.stdout)["hourly_sums_recounted"] == cells
