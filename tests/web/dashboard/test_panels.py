"""The dashboard as monitoring sees it (#18 item 3): monitoring's windows and the policy's minimum group
size, Wilson intervals, group names from the config, flags that link to their predictions, the
out-of-domain share per version (#17 item 4) and true/false-positive rates from recorded outcomes."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from govflow import canonical as canon
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import Prediction, PredictionPayload
from govflow.governance.registry.versions import VersionRef
from govflow.governance.trail import dashboard_data as dd
from govflow.governance.trail.outcomes import attach_outcomes
from govflow.web.audit import list_predictions
from govflow.web.dashboard import dashboard_router
from govflow.web.dashboard_charts import charts
from govflow.web.dashboard_links import flag_links, group_filters
from tests.web.dashboard import scenario
from tests.web.dashboard.scenario import BALANCED, SNAPSHOT
from tests.web.dashboard.test_routes import bearer

DAY = timedelta(days=1)


def traces(html: str) -> list[dict[str, Any]]:
    """The traces of a chart's ``Plotly.newPlot("id", [traces], layout, config)`` call."""
    after_id = html.split("Plotly.newPlot(", 1)[1].split(",", 1)[1].lstrip()
    found, _ = json.JSONDecoder().raw_decode(after_id)
    return list(found)


def test_wilson_interval_by_hand() -> None:
    # 8/10 at 95%: z = 1.95996; centre (0.8 + z^2/20) / (1 + z^2/10) = 0.7167; half-width 0.2265
    low, high = dd.wilson(8, 10)
    assert (round(low, 3), round(high, 3)) == (0.49, 0.943)
    assert dd.wilson(0, 5)[0] == 0.0 and round(dd.wilson(0, 5)[1], 3) == 0.434  # never below 0, never a point
    assert dd.wilson(0, 0) == (0.0, 1.0)
    assert dd.wilson(40, 50, 0.99)[1] - dd.wilson(40, 50, 0.99)[0] > dd.wilson(40, 50)[1] - dd.wilson(40, 50)[0]


def test_windows_are_monitorings_grid(sqlite_ledger: Ledger, production: VersionRef, start: datetime) -> None:
    """First prediction on day D at 10:00: the 7-day windows start at D 00:00 (monitoring's grid), not on
    the Unix epoch's Thursdays, and a chosen 1d window lies on the same grid."""
    first = start + 2 * DAY + timedelta(hours=10)
    rows = [scenario.Logged(first + timedelta(days=d), {"decision": 1}, {"sex": "male"}) for d in range(10)]
    scenario.log(sqlite_ledger, production, rows)
    with sqlite_ledger.read() as conn:
        data = dd.load_dashboard(conn, "credit-scoring", end=first + 10 * DAY, period=timedelta(days=14))
    midnight = start + 2 * DAY
    assert data.anchor == midnight and data.bucket == 7 * DAY
    assert [(c.window, c.requests) for c in data.counts] == [(midnight, 7), (midnight + 7 * DAY, 3)]
    assert data.start == midnight - 7 * DAY  # the period begins with a whole window


def test_small_daily_groups_are_judged_weekly_as_monitoring_does(sqlite_ledger: Ledger, production: VersionRef,
                                                                  start: datetime) -> None:
    """10 women a day are too few to judge per day (30 by the policy) and are never flagged daily;
    over monitoring's week (70) their rate is judged: one flag, where daily windows raised none."""
    cells = {("female", 40): (10, 2), ("male", 40): (40, 24)}
    scenario.log(sqlite_ledger, production, scenario.decisions(start, days=7, per_day=cells))
    with sqlite_ledger.read() as conn:
        daily = dd.load_dashboard(conn, "credit-scoring", end=start + 7 * DAY, period=timedelta(days=7), bucket=DAY)
        weekly = dd.load_dashboard(conn, "credit-scoring", end=start + 7 * DAY, period=timedelta(days=7))
        lenient = dd.load_dashboard(conn, "credit-scoring", end=start + 7 * DAY, period=timedelta(days=7), bucket=DAY,
                                    min_group_size=10)
    assert [f.kind.value for f in daily.flags] == []
    assert [(f.subject, f.window) for f in weekly.flags] == [("sex=female", start)]
    assert len([f for f in lenient.flags if f.kind is dd.FlagKind.DISPARATE_IMPACT]) == 7  # a dashboard setting


def test_too_few_is_drawn_as_too_few(sqlite_ledger: Ledger, production: VersionRef, start: datetime) -> None:
    cells = {("female", 40): (10, 2), ("male", 40): (40, 24)}
    scenario.log(sqlite_ledger, production, scenario.decisions(start, days=2, per_day=cells))
    with sqlite_ledger.read() as conn:
        data = dd.load_dashboard(conn, "credit-scoring", end=start + 2 * DAY, period=timedelta(days=2), bucket=DAY)
    chart = next(c for c in charts(data, {}) if c["key"] == "rates-sex")
    figure = traces(chart["html"])
    female = next(t for t in figure if t.get("name") == "sex=female")
    few = next(t for t in figure if t.get("name") == "sex=female: too few")
    male_band = next(t for t in figure if t.get("name") == "sex=male interval")
    assert female["y"] == [None, None] and few["customdata"] == [10, 10]
    # 24/40 each day: Wilson 95% [0.446, 0.737] (centre 0.5912, half-width 0.1453), drawn as a closed band around both windows
    assert [round(y, 3) for y in male_band["y"]] == [0.737, 0.737, 0.446, 0.446]
    assert "2 group-window(s) with fewer than 30 decisions: too few" in chart["note"]


def test_groups_are_named_as_the_config_says(sqlite_ledger: Ledger, start: datetime) -> None:
    snapshot = json.loads(json.dumps(SNAPSHOT))
    snapshot["data"]["sensitive_features"] = [{"column": "sex", "labels": {"female": "Women", "male": "Men"}},
                                              {"column": "age", "bins": [0, 25, 120], "labels": {"[0, 25)": "under 25"}}]
    version = scenario.register(sqlite_ledger, snapshot=snapshot)
    scenario.to_production(sqlite_ledger, version)
    collapse = {day: {("female", 22): (40, 4), ("female", 40): (40, 4)} for day in (0, 1)}
    scenario.log(sqlite_ledger, version, scenario.decisions(start, days=2, per_day=BALANCED, collapse=collapse))
    with sqlite_ledger.read() as conn:
        data = dd.load_dashboard(conn, "credit-scoring", end=start + 2 * DAY, period=timedelta(days=2))
    flag = next(f for f in data.flags if f.kind is dd.FlagKind.DISPARATE_IMPACT)
    assert flag.message == "sex: favourable rate of Women 0.10 (n=160) is 0.17 of Men's 0.60 (n=160), below the policy bound 0.8"
    assert (flag.attribute, flag.group) == ("sex", "female")  # links filter on the code as logged
    names = {c["key"]: c["html"] for c in charts(data, {})}
    assert '"name":"sex=Women"' in names["rates-sex"] and '"name":"age=under 25"' in names["rates-age"]


def test_flag_links_select_its_predictions(sqlite_ledger: Ledger, production: VersionRef, start: datetime) -> None:
    collapse = {day: {("female", 22): (40, 4), ("female", 40): (40, 4)} for day in (2, 3)}
    scenario.log(sqlite_ledger, production, scenario.decisions(start, days=4, per_day=BALANCED, collapse=collapse))
    with sqlite_ledger.read() as conn:
        data = dd.load_dashboard(conn, "credit-scoring", end=start + 4 * DAY, period=timedelta(days=4), bucket=DAY)
    impact = next(f for f in data.flags if f.kind is dd.FlagKind.DISPARATE_IMPACT)
    shift = next(f for f in data.flags if f.subject == "age=[0, 25)")
    (text, href), = flag_links(impact, data)  # no monitoring run, no incident: the predictions only
    assert text == "predictions" and href.startswith("/audit/predictions?")
    query = parse_qs(urlsplit(href).query)
    assert query == {"system": ["credit-scoring"], "since": [canon.format_ts(start + 2 * DAY)],
                     "until": [canon.format_ts(start + 3 * DAY)], "group": ["sex=female"], "limit": ["100"]}
    page = list_predictions(sqlite_ledger, {k: v if k == "group" else v[0] for k, v in query.items()})
    assert len(page["predictions"]) == 80  # the 80 women of that day, as the flag counted them
    assert group_filters("age", "[0, 25)") == ["age>=0", "age<25"]
    assert parse_qs(urlsplit(flag_links(shift, data)[0][1]).query)["group"] == ["age>=0", "age<25"]


def test_out_of_domain_share_per_version(sqlite_ledger: Ledger, production: VersionRef, start: datetime) -> None:
    rows = [scenario.Logged(start + timedelta(minutes=i), {"decision": 1, "score": 0.9,
                                                           **({"out_of_domain": ["amount"]} if i % 4 == 0 else {})},
                            {"sex": "male"}) for i in range(40)]
    scenario.log(sqlite_ledger, production, rows)
    app = FastAPI()
    app.include_router(dashboard_router(sqlite_ledger, clock=lambda: start + DAY))
    page = TestClient(app).get("/dashboard/credit-scoring", headers=bearer(sqlite_ledger))
    cell = page.text.split('data-ood="credit-scoring:1">')[1].split("</td>")[0]
    assert ">25.0% (10)</a>" in cell
    href = cell.split('href="')[1].split('"')[0].replace("&amp;", "&")
    query = {k: v[0] for k, v in parse_qs(urlsplit(href).query).items()}
    assert query["out_of_domain"] == "any" and query["version"] == "1"
    assert len(list_predictions(sqlite_ledger, query)["predictions"]) == 10


def _outcomes_by_rule(ledger: Ledger) -> pd.DataFrame:
    """Women's outcome is good when i < 20, men's when i < 30 (i: the decision's index in its cell)."""
    with ledger.read() as conn:
        rows = conn.execute(select(Prediction.id, PredictionPayload.features_json, PredictionPayload.sensitive_json)
                            .join(PredictionPayload, PredictionPayload.payload_hash == Prediction.payload_hash)).all()
    labels = []
    for pid, features, sensitive in rows:
        i, sex = json.loads(features)["amount"] - 1000, json.loads(sensitive)["sex"]
        labels.append({"prediction_id": pid, "creditability": "good" if i < (20 if sex == "female" else 30) else "bad"})
    return pd.DataFrame(labels)


def test_outcome_rates_by_group(sqlite_ledger: Ledger, production: VersionRef, start: datetime) -> None:
    scenario.log(sqlite_ledger, production, scenario.decisions(start, days=2, per_day=BALANCED))
    attach_outcomes(sqlite_ledger, system="credit-scoring", frame=_outcomes_by_rule(sqlite_ledger),
                    target="creditability", id_column=None)
    with sqlite_ledger.read() as conn:
        data = dd.load_dashboard(conn, "credit-scoring", end=start + 2 * DAY, period=timedelta(days=2))
    by_group: dict[str, Any] = {r.group: r for r in data.panels.outcomes}
    # per cell and day: 24 favourable decisions (i < 24); women good for i < 20: TP 20, FP 4, TN 16;
    # men good for i < 30: TP 24, FN 6, TN 10
    female, male = by_group["female"], by_group["male"]
    assert (female.tp, female.fn, female.fp, female.tn) == (80, 0, 16, 64)
    assert (male.tp, male.fn, male.fp, male.tn) == (96, 24, 0, 40)
    assert (female.tpr, female.fpr, male.tpr, male.fpr) == (1.0, 0.2, 0.8, 0.0)
    chart = next(c for c in charts(data, {}) if c["key"] == "outcomes")
    assert '"name":"TPR"' in chart["html"] and '"name":"FPR"' in chart["html"]


@pytest.mark.parametrize("value", ["0", "-3", "1000001"])
def test_min_n_is_checked(sqlite_ledger: Ledger, production: VersionRef, start: datetime, value: str) -> None:
    app = FastAPI()
    app.include_router(dashboard_router(sqlite_ledger, clock=lambda: start + DAY))
    answer = TestClient(app).get("/dashboard/credit-scoring", params={"min_n": value}, headers=bearer(sqlite_ledger))
    assert (answer.status_code, answer.json()["detail"]) == (
        422, f"min_n: a whole number of decisions from 1 to 1000000 (got {value}), e.g. ?min_n=30")


def test_a_flag_links_the_incident_opened_for_its_window(sqlite_ledger: Ledger, production: VersionRef,
                                                          start: datetime) -> None:
    from govflow.governance.monitoring import incidents

    collapse = {day: {("female", 22): (40, 4), ("female", 40): (40, 4)} for day in (0, 1)}
    scenario.log(sqlite_ledger, production, scenario.decisions(start, days=2, per_day=BALANCED, collapse=collapse))
    window = {"start": canon.format_ts(start), "end": canon.format_ts(start + 7 * DAY)}
    opened = incidents.open_incident(sqlite_ledger, system="credit-scoring", kind="fundamental_rights",
                                     summary="bias found by monitoring", by="tests", model_version_id=production.id,
                                     details={"window": window})
    elsewhere = incidents.open_incident(sqlite_ledger, system="credit-scoring", kind="malfunction", summary="earlier",
                                        by="tests", model_version_id=production.id,
                                        details={"window": {"start": canon.format_ts(start - 7 * DAY),
                                                            "end": canon.format_ts(start)}})
    with sqlite_ledger.read() as conn:
        data = dd.load_dashboard(conn, "credit-scoring", end=start + 2 * DAY, period=timedelta(days=2))
    flag = next(f for f in data.flags if f.kind is dd.FlagKind.DISPARATE_IMPACT)
    links = dict((href, text) for text, href in flag_links(flag, data))
    assert links[f"/audit/incidents/{opened.id}"] == f"incident {opened.id[:8]} (fundamental_rights, open)"
    assert f"/audit/incidents/{elsewhere.id}" not in links  # its window ended where this one starts
