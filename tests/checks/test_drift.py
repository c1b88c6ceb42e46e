"""Drift with Evidently on real data: same-data samples pass, injected shifts fail, ACS 2015 vs 2018."""

from __future__ import annotations

import json
from typing import cast

import numpy as np
import pandas as pd
import pytest

from govflow.checks.drift import TWO_SAMPLE_CHI2, _two_sample_chi2, assess_drift
from govflow.checks.policy import Policy
from govflow.checks.results import CheckResult, Severity, SuiteResult

from .conftest import ACS_FEATURES

GERMAN_SHIFTED = ["duration_in_month", "credit_amount", "age_in_years", "purpose", "housing", "job",
                  "savings_account_and_bonds"]
ACS_SHIFTED = {"AGEP": None, "SCHL": "1", "MAR": "5", "CIT": "5", "MIL": "1", "ANC": "4"}


def drifted(suite: SuiteResult) -> list[str]:
    return [r.subject for r in suite.results if r.name == "column_drift" and r.passed is False]


def one(suite: SuiteResult, name: str) -> CheckResult:
    return next(r for r in suite.results if r.name == name)


@pytest.fixture(scope="module")
def german_halves(german: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    first = german.sample(frac=0.5, random_state=0)
    return first, german.drop(first.index)


@pytest.fixture(scope="module")
def german_same(german_halves: tuple[pd.DataFrame, pd.DataFrame]) -> SuiteResult:
    return assess_drift(reference=german_halves[0], current=german_halves[1], target="creditability")


def test_german_halves_do_not_drift(german_same: SuiteResult) -> None:
    assert german_same.passed is True
    share = german_same.results[0]
    assert (share.name, share.subject, share.threshold, share.severity) == (
        "drifted_column_share", "features", 0.3, Severity.CRITICAL)
    assert drifted(german_same) == ["credit_history"]  # p = 0.031: the one chance finding among 20 at 5 %
    assert german_same.summary["columns"] == 20 and one(german_same, "target_drift").passed is True


def test_small_samples_get_type_appropriate_tests(german_same: SuiteResult) -> None:
    methods = {row["column"]: row["method"] for row in german_same.tables["columns"]}
    assert methods["duration_in_month"] == "K-S p_value"  # numeric, many values
    assert methods["purpose"] == TWO_SAMPLE_CHI2  # categorical
    assert methods["installment_rate_in_percentage_of_disposable_income"] == TWO_SAMPLE_CHI2  # numeric, 4 values
    assert methods["telephone"] == "Z-test p_value" and methods["creditability"] == "Z-test p_value"  # binary
    purpose = next(r for r in german_same.results if r.subject == "purpose")
    assert purpose.details == {"method": TWO_SAMPLE_CHI2, "type": "categorical", "score_kind": "p_value",
                               "drift_when": "score < threshold"}


def test_report_attachments(german_same: SuiteResult) -> None:
    html = german_same.attachment("report")
    assert html is not None and html.media_type == "text/html" and html.name == "drift_report.html"
    assert len(html.content) > 1_000_000 and b"<html" in html.content[:500].lower()
    snapshot = german_same.attachment("evidently_snapshot")
    assert snapshot is not None and len(json.loads(snapshot.content)["metrics"]) == 22  # count + 20 + target
    assert "attachments" not in german_same.to_dict()
    json.dumps(german_same.to_dict(), allow_nan=False)


def test_evidently_chisquare_ignores_the_reference_noise(german_halves: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    from scipy.stats import chi2_contingency

    from govflow.checks.drift import _evidently

    _evidently()
    from evidently.legacy.calculations.stattests.chisquare_stattest import _chi_stat_test

    first, second = german_halves
    ours, _ = _two_sample_chi2(first["credit_history"], second["credit_history"], None, 0.05)
    table = pd.crosstab(np.r_[np.zeros(len(first)), np.ones(len(second))],
                        np.r_[first["credit_history"], second["credit_history"]])
    assert ours == pytest.approx(chi2_contingency(table, correction=False)[1]) == pytest.approx(0.0307, abs=1e-4)
    theirs, _ = _chi_stat_test(first["credit_history"], second["credit_history"], None, 0.05)
    assert theirs == pytest.approx(1.88e-5, rel=0.01)  # reference proportions taken as exact


def test_german_injected_shift_fails(german_halves: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    reference, current = german_halves[0], german_halves[1].copy()
    current["duration_in_month"] *= 2
    current["credit_amount"] *= 2
    current["age_in_years"] += 15
    some = np.random.default_rng(0).random(len(current)) < 0.6
    for column, value in (("purpose", "business"), ("housing", "for free"),
                          ("job", "unemployed/ unskilled - non-resident"), ("savings_account_and_bonds", "... >= 1000 DM")):
        current.loc[some, column] = value
    suite = assess_drift(reference=reference, current=current, target="creditability", report=False)
    assert suite.passed is False and suite.attachments == ()
    assert sorted(drifted(suite)) == sorted([*GERMAN_SHIFTED, "credit_history"])
    share = suite.results[0]
    assert (share.observed, share.passed, share.details["drifted_count"]) == (0.4, False, 8)


@pytest.fixture(scope="module")
def acs_2018(acs_later: pd.DataFrame) -> pd.DataFrame:
    return acs_later[acs_later["year"] == 2018].reset_index(drop=True)


def test_acs_2015_halves_do_not_drift(acs_2015: pd.DataFrame) -> None:
    shuffled = acs_2015.sample(frac=1, random_state=0).reset_index(drop=True)
    suite = assess_drift(reference=shuffled.iloc[:34_000], current=shuffled.iloc[34_000:], columns=ACS_FEATURES,
                         id_columns=["id"], target="employed", report=False)
    assert suite.passed is True and drifted(suite) == []
    shifts = [r.observed for r in suite.results if r.name == "column_drift"]
    assert all(isinstance(s, float) for s in shifts) and max(cast(list[float], shifts)) < 0.015
    methods = {row["method"] for row in suite.tables["columns"]}
    assert methods == {"Wasserstein distance (normed)", "Jensen-Shannon distance"}  # large samples: distances


def test_acs_injected_shift_and_prediction_drift(acs_2015: pd.DataFrame, acs_2018: pd.DataFrame,
                                                 acs_model: tuple) -> None:
    model, features = acs_model
    reference = acs_2015.assign(score=model.predict_proba(acs_2015[features])[:, 1])
    current = acs_2018.copy()
    current["AGEP"] = current["AGEP"] + 20
    some = np.random.default_rng(0).random(len(current)) < 0.4
    for column, value in ACS_SHIFTED.items():
        if value is not None:
            current[column] = current[column].astype(object).where(~some, value).astype("category")
    current["score"] = model.predict_proba(current[features])[:, 1]
    suite = assess_drift(reference=reference, current=current, columns=ACS_FEATURES, prediction="score",
                         target="employed", report=False)
    assert sorted(drifted(suite)) == sorted(ACS_SHIFTED)
    assert suite.results[0].observed == 6 / 16 and suite.results[0].passed is False
    prediction = one(suite, "prediction_drift")
    assert (prediction.subject, prediction.passed, prediction.severity) == ("score", False, Severity.CRITICAL)
    assert one(suite, "target_drift").passed is True  # labels were not touched
    assert [r.name for r in suite.blocking] == ["drifted_column_share", "prediction_drift"]


def test_acs_2015_vs_2018_real_drift(acs_2015: pd.DataFrame, acs_2018: pd.DataFrame) -> None:
    """What is really in the data: small shifts, largest in ancestry (ANC), none above Evidently's 0.1.

    With 68,785 vs 70,131 rows, significance tests (K-S, two-sample chi-square at 5 %) flag 10 of 16
    columns, though no shift exceeds a Jensen-Shannon distance of 0.05: at this size the default
    distances measure whether a shift matters, the tests only whether it exists.
    """
    suite = assess_drift(reference=acs_2015, current=acs_2018, columns=ACS_FEATURES, target="employed",
                         report=False)
    scores = {r.subject: r.observed for r in suite.results if r.name == "column_drift"}
    assert suite.passed is True and drifted(suite) == []
    ranked = sorted(scores, key=scores.__getitem__, reverse=True)  # type: ignore[arg-type]
    assert ranked[:3] == ["ANC", "AGEP", "SCHL"]
    assert scores["ANC"] == pytest.approx(0.042, abs=0.002)
    assert scores["AGEP"] == pytest.approx(0.024, abs=0.002) and scores["SEX"] < 0.002  # type: ignore[operator]
    assert one(suite, "target_drift").observed == pytest.approx(0.0065, abs=0.001)  # employed 49.6 % -> 50.5 %

    tests = assess_drift(reference=acs_2015, current=acs_2018, columns=ACS_FEATURES, report=False,
                         policy=Policy.from_mapping({"drift": {"numerical_method": "ks",
                                                               "categorical_method": "chisquare_two_sample"}}))
    assert sorted(set(ACS_FEATURES) - set(drifted(tests))) == ["DEAR", "DEYE", "DIS", "DREM", "MIG", "SEX"]
    assert tests.passed is False and tests.results[0].observed == 10 / 16
