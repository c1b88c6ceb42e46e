"""The dashboard's figures and flags, from records and from a real ledger."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from govflow.governance.ledger.engine import Ledger
from govflow.governance.registry.versions import VersionRef
from govflow.governance.trail import dashboard_data as dd
from tests.web.dashboard import scenario
from tests.web.dashboard.scenario import BALANCED

T0 = datetime(2026, 3, 2, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.mark.parametrize(("output", "positive", "expected"), [
    ({"decision": 1, "score": 0.8}, None, 1),
    ({"decision": 0}, None, 0),
    ({"decision": True}, None, 1),
    ({"favourable": False}, None, 0),
    ({"prediction": "good", "score": 0.7}, "good", 1),
    ({"prediction": "bad"}, "good", 0),
    ({"prediction": 1}, 1, 1),
    ({"prediction": "good"}, None, None),
    (["50", "181"], None, None),
    ({"items": ["50"]}, None, None),
    ({"decision": 0.7}, None, None),
])
def test_decision_of(output: object, positive: object, expected: int | None) -> None:
    assert dd.decision_of(output, positive) == expected


@pytest.mark.parametrize(("value", "label"), [(24, "[0, 25)"), (25, "[25, 120)"), ("31", "[25, 120)"),
                                              (0, "[0, 25)"), (120, "(outside bins)"), ("n/a", "(outside bins)")])
def test_bin_label_left_closed(value: object, label: str) -> None:
    assert dd.bin_label(value, [0, 25, 120]) == label


def test_group_labels_bins_only_configured_attributes() -> None:
    spec = dd.sensitive_spec(scenario.SNAPSHOT)
    assert spec == {"sex": None, "age": [0, 25, 120]}
    assert dd.group_labels({"sex": "female", "age": 31, "region": None}, spec) == {
        "sex": "female", "age": "[25, 120)", "region": "(not given)"}
    assert dd.group_labels(None, spec) == {}


@pytest.mark.parametrize("text", ["", "7", "d", "0d", "-1d", "3y", "1.5h"])
def test_parse_duration_errors_say_how(text: str) -> None:
    with pytest.raises(ValueError) as e:
        dd.parse_duration(text)
    assert str(e.value) == f"'{text}' is not a duration: write a number and a unit, e.g. 15m, 6h, 30d"


def test_parse_duration_and_auto_bucket() -> None:
    assert dd.parse_duration("15m") == timedelta(minutes=15)
    assert dd.parse_duration("2w") == timedelta(weeks=2)
    assert dd.auto_bucket(T0, T0 + timedelta(days=30)) == DAY
    assert dd.auto_bucket(T0, T0 + timedelta(hours=12)) == timedelta(minutes=15)
    assert dd.auto_bucket(T0, T0 + timedelta(days=3650)) == timedelta(days=7)


def test_windows_align_on_utc_midnight() -> None:
    assert dd.window_of(datetime(2026, 3, 2, 23, 59, tzinfo=UTC), DAY) == T0
    assert dd.window_of(datetime(2026, 3, 2, 10, 44, tzinfo=UTC), timedelta(minutes=15)) == datetime(2026, 3, 2, 10, 30, tzinfo=UTC)


def test_two_proportion_z_by_hand() -> None:
    # 60/100 then 40/100: pooled 0.5, se = sqrt(0.25 * 0.02) = 0.0707..., z = -0.2 / 0.0707 = -2.828
    assert dd.two_proportion_z(60, 100, 40, 100) == pytest.approx(-2 * math.sqrt(2))
    assert dd.two_proportion_z(0, 50, 0, 50) == 0.0


def records(cells: dict[tuple[int, str], tuple[int, int]]) -> list[dd.Record]:
    """(day, sex) -> (n, favourable)."""
    out = []
    for (day, sex), (n, fav) in cells.items():
        out += [dd.Record(T0 + day * DAY + timedelta(seconds=i), "cs:1", int(i < fav), {"sex": sex}) for i in range(n)]
    return out


def test_rates_ratios_and_flags_by_hand() -> None:
    recs = records({(0, "f"): (50, 30), (0, "m"): (50, 30), (1, "f"): (50, 10), (1, "m"): (50, 30),
                    (2, "f"): (10, 0), (2, "m"): (50, 30)})
    recs.append(dd.Record(T0, "cs:1", None, {"sex": "f"}))  # not a decision: counted as a request only
    rates = dd.group_rates(recs, DAY)
    assert [(r.attribute, r.group, r.window.day, r.n, r.favourable) for r in rates] == [
        ("", "all", 2, 100, 60), ("", "all", 3, 100, 40), ("", "all", 4, 60, 30),
        ("sex", "f", 2, 50, 30), ("sex", "f", 3, 50, 10), ("sex", "f", 4, 10, 0),
        ("sex", "m", 2, 50, 30), ("sex", "m", 3, 50, 30), ("sex", "m", 4, 50, 30)]
    ratios = dd.rate_ratios(rates, min_group_size=30)
    # day 3: 0.2 / 0.6; day 4: f has 10 decisions, too few to judge, so no ratio at all
    assert [(r.window.day, round(r.ratio, 4), r.lowest, r.highest) for r in ratios] == [
        (2, 1.0, "f", "m"), (3, 0.3333, "f", "m")]
    flags = dd.fairness_flags(rates, ratios, DAY, dd.Rules())
    # overall 0.60 -> 0.40 over 100 each has |z| = 2.83 < 3: not a shift; f's 0.60 -> 0.20 has z = -4.08
    assert [(f.kind.value, f.subject, f.window.day if f.window else None) for f in flags] == [
        ("disparate_impact", "sex=f", 3), ("rate_shift", "sex=f", 3)]
    assert flags[0].message == ("sex: favourable rate of f 0.20 (n=50) is 0.33 of m's 0.60 (n=50), "
                                "below the policy bound 0.8")
    assert flags[1].message == ("sex=f: favourable rate moved from 0.60 (n=50) to 0.20 (n=50) between adjacent "
                                "windows (change -0.40, z = -4.1; flagged at |change| >= 0.1 and |z| >= 3)")


def test_shift_needs_both_the_change_and_the_z() -> None:
    # 0.60 -> 0.52 over 5,000 each: |z| = 8 but the change is below 0.10: not a shift
    big = records({(0, "f"): (5000, 3000), (1, "f"): (5000, 2600)})
    assert dd.fairness_flags(dd.group_rates(big, DAY), [], DAY, dd.Rules()) == []
    # 0.60 -> 0.40 over 30 each: change 0.2 but |z| = 1.55: not a shift either
    small = records({(0, "f"): (30, 18), (1, "f"): (30, 12)})
    assert dd.fairness_flags(dd.group_rates(small, DAY), [], DAY, dd.Rules()) == []


def test_shift_only_between_adjacent_windows() -> None:
    gap = records({(0, "f"): (100, 60), (2, "f"): (100, 10)})
    assert dd.fairness_flags(dd.group_rates(gap, DAY), [], DAY, dd.Rules()) == []


def test_approved_intervals() -> None:
    t = [T0 + timedelta(hours=h) for h in range(8)]
    stages = [(t[0], "candidate"), (t[2], "approved"), (t[3], "production"), (t[6], "retired")]
    approvals = [(t[1], "model_owner", "approve"), (t[2], "risk_officer", "approve"), (t[4], "risk_officer", "reject"),
                 (t[5], "risk_officer", "approve")]
    assert dd.approved_intervals(stages, approvals, ["model_owner", "risk_officer"]) == [(t[3], t[4]), (t[5], t[6])]
    assert dd.approved_intervals(stages[:3], approvals[:2], ["model_owner", "risk_officer"]) == [(t[3], None)]
    assert dd.approved_intervals(stages, [], []) == [(t[3], t[6])]


# -- against a ledger --------------------------------------------------------------------------

def test_balanced_traffic_raises_no_flag(sqlite_ledger: Ledger, production: VersionRef, start: datetime) -> None:
    scenario.log(sqlite_ledger, production, scenario.decisions(start, days=4, per_day=BALANCED))
    with sqlite_ledger.read() as conn:
        data = dd.load_dashboard(conn, "credit-scoring", end=start + 5 * DAY, period=timedelta(days=7))
    assert data.flags == ()
    # monitoring's window (the snapshot names none: its default, 7d), on its grid from the first prediction's midnight
    assert (data.total, data.loaded, data.bucket, data.anchor) == (640, 640, timedelta(days=7), start)
    assert (data.start, data.window_text) == (start - 7 * DAY, "7d (as monitoring)")
    assert [(v.label, v.stage, v.requests) for v in data.versions] == [("credit-scoring:1", "production", 640)]
    assert data.attributes == ["age", "sex"]
    assert {(r.group, r.n, r.favourable) for r in data.rates if r.attribute == "age"} == {
        ("[0, 25)", 320, 192), ("[25, 120)", 320, 192)}
    assert sum(c.requests for c in data.counts) == 640


def test_a_collapsing_group_is_flagged(sqlite_ledger: Ledger, production: VersionRef, start: datetime) -> None:
    collapse = {day: {("female", 22): (40, 4), ("female", 40): (40, 4)} for day in (2, 3)}
    scenario.log(sqlite_ledger, production, scenario.decisions(start, days=4, per_day=BALANCED, collapse=collapse))
    with sqlite_ledger.read() as conn:
        data = dd.load_dashboard(conn, "credit-scoring", end=start + 5 * DAY, period=timedelta(days=7), bucket=DAY)
    impact = [f for f in data.flags if f.kind is dd.FlagKind.DISPARATE_IMPACT]
    assert [(f.subject, f.window, f.observed) for f in impact] == [
        ("sex=female", start + 2 * DAY, 0.1667), ("sex=female", start + 3 * DAY, 0.1667)]
    shifts = {(f.subject, f.window) for f in data.flags if f.kind is dd.FlagKind.RATE_SHIFT}
    assert shifts == {(s, start + 2 * DAY) for s in ("all", "sex=female", "age=[0, 25)", "age=[25, 120)")}
    assert not [f for f in data.flags if f.kind is dd.FlagKind.UNAPPROVED_SERVING]


def test_serving_before_promotion_and_after_retirement_is_flagged(sqlite_ledger: Ledger) -> None:
    first = scenario.register(sqlite_ledger)
    early = scenario.decisions(datetime.now(UTC) - DAY, days=1, per_day={("male", 40): (3, 2)})
    scenario.log(sqlite_ledger, first, early)  # served a day before it was even registered
    scenario.to_production(sqlite_ledger, first)
    second = scenario.register(sqlite_ledger)
    scenario.to_production(sqlite_ledger, second)  # retires the first
    later = datetime.now(UTC) + timedelta(minutes=1)
    scenario.log(sqlite_ledger, first, scenario.decisions(later, days=1, per_day={("male", 40): (2, 1)}))
    scenario.log(sqlite_ledger, second, scenario.decisions(later, days=1, per_day={("male", 40): (5, 1)}))
    with sqlite_ledger.read() as conn:
        data = dd.load_dashboard(conn, "credit-scoring", end=later + 2 * DAY, period=timedelta(days=7))
    unapproved = [f for f in data.flags if f.kind is dd.FlagKind.UNAPPROVED_SERVING]
    assert [(f.subject, f.observed, f.severity) for f in unapproved] == [("credit-scoring:1", 5.0, "critical")]
    assert unapproved[0].message.startswith("credit-scoring:1 served 5 prediction(s) while not in production "
                                            "with every required approval (model_owner, risk_officer) in force")
    assert [(v.label, v.stage, v.requests) for v in data.versions] == [
        ("credit-scoring:1", "retired", 5), ("credit-scoring:2", "production", 5)]


def test_truncation_keeps_the_latest(sqlite_ledger: Ledger, production: VersionRef, start: datetime) -> None:
    """Counted from the rows (windows shorter than an hour), the bound keeps the latest."""
    scenario.log(sqlite_ledger, production, scenario.decisions(start, days=2, per_day={("male", 40): (10, 5)}))
    with sqlite_ledger.read() as conn:
        data = dd.load_dashboard(conn, "credit-scoring", end=start + 3 * DAY, period=timedelta(days=7),
                                 bucket=timedelta(minutes=30), max_rows=10)
        summed = dd.load_dashboard(conn, "credit-scoring", end=start + 3 * DAY, period=timedelta(days=7),
                                   bucket=DAY, max_rows=10)
    assert (data.total, data.loaded, data.truncated) == (20, 10, True)
    assert sum(c.requests for c in data.counts) == 10 and min(c.window for c in data.counts) >= start + DAY
    # From the hourly sums: the whole period, whatever the bound.
    assert (summed.total, summed.loaded, summed.truncated) == (20, 20, False)
    assert [(c.window, c.requests) for c in summed.counts] == [(start, 10), (start + DAY, 10)]


def test_systems_and_an_empty_period(sqlite_ledger: Ledger, production: VersionRef) -> None:
    with sqlite_ledger.read() as conn:
        assert dd.systems(conn) == ["credit-scoring"]
        data = dd.load_dashboard(conn, "credit-scoring")
    assert (data.total, data.counts, data.flags, data.exposure) == (0, (), (), None)


def test_both_backends_agree(ledger: Ledger) -> None:
    """The same figures and flags from SQLite and PostgreSQL (time comparisons, outer join, counts)."""
    first = scenario.register(ledger)
    early = datetime.now(UTC) - DAY
    scenario.log(ledger, first, scenario.decisions(early, days=1, per_day={("male", 40): (3, 2)}))  # before approval
    scenario.to_production(ledger, first)
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + DAY
    collapse = {day: {("female", 22): (40, 4), ("female", 40): (40, 4)} for day in (2, 3)}
    scenario.log(ledger, first, scenario.decisions(start, days=4, per_day=BALANCED, collapse=collapse))
    with ledger.read() as conn:
        data = dd.load_dashboard(conn, "credit-scoring", end=start + 5 * DAY, period=timedelta(days=8), bucket=DAY)
    assert data.total == 643
    assert sorted((f.kind.value, f.subject) for f in data.flags) == [
        ("disparate_impact", "sex=female"), ("disparate_impact", "sex=female"),
        ("rate_shift", "age=[0, 25)"), ("rate_shift", "age=[25, 120)"), ("rate_shift", "all"), ("rate_shift", "sex=female"),
        ("unapproved_serving", "credit-scoring:1")]
    assert next(f for f in data.flags if f.kind is dd.FlagKind.UNAPPROVED_SERVING).observed == 3.0
