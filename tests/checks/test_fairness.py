"""Fairness on real data: known injected bias fails, small groups are not judged and say so."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    selection_rate,
)

from govflow.checks.fairness import assess_fairness
from govflow.checks.policy import Policy
from govflow.checks.results import CheckResult, Severity, SuiteResult

from .conftest import GERMAN_SENSITIVE, flip_favourable, sample


def by(suite: SuiteResult, name: str, subject: str) -> CheckResult:
    return next(r for r in suite.results if r.name == name and r.subject == subject)


def disparities(suite: SuiteResult, subject: str) -> dict[str, bool | None]:
    return {n: by(suite, n, subject).passed for n in
            ("demographic_parity_difference", "disparate_impact_ratio", "equalized_odds_difference")}


def test_matches_fairlearn_on_the_rows(german: pd.DataFrame) -> None:
    rng = np.random.default_rng(0)
    truth = german["creditability"]
    pred = np.where(rng.random(len(truth)) < 0.8, truth, np.where(truth == "good", "bad", "good"))
    suite = assess_fairness(y_true=truth, y_pred=pred, sensitive=german, positive_label="good",
                            sensitive_features=GERMAN_SENSITIVE)
    yt, yp = (truth == "good").astype(int), (pred == "good").astype(int)
    age = pd.cut(german["age_in_years"], [0, 25, 120], right=False)
    for subject, groups in (("personal_status_and_sex", german["personal_status_and_sex"]), ("age_in_years", age)):
        assert by(suite, "demographic_parity_difference", subject).observed == pytest.approx(
            demographic_parity_difference(yt, yp, sensitive_features=groups))
        assert by(suite, "disparate_impact_ratio", subject).observed == pytest.approx(
            demographic_parity_ratio(yt, yp, sensitive_features=groups))
        assert by(suite, "equalized_odds_difference", subject).observed == pytest.approx(
            equalized_odds_difference(yt, yp, sensitive_features=groups))


def test_bootstrap_agrees_with_fairlearn_n_boot(german: pd.DataFrame) -> None:
    rng = np.random.default_rng(0)
    yt = (german["creditability"] == "good").astype(int).to_numpy()
    yp = np.where(rng.random(len(yt)) < 0.85, yt, 1 - yt)
    groups = german["personal_status_and_sex"]
    frame = MetricFrame(metrics={"sr": selection_rate}, y_true=yt, y_pred=yp, sensitive_features=groups,
                        n_boot=200, ci_quantiles=[0.025, 0.975], random_state=1)
    suite = assess_fairness(y_true=yt, y_pred=yp, sensitive=german, positive_label=1,
                            sensitive_features=["personal_status_and_sex"],
                            policy=Policy.from_mapping({"fairness": {"bootstrap_samples": 1000}}))
    ours = by(suite, "demographic_parity_difference", "personal_status_and_sex").details["ci"]
    assert ours == pytest.approx([q["sr"] for q in frame.difference_ci()], abs=0.03)
    ratio = by(suite, "disparate_impact_ratio", "personal_status_and_sex").details["ci"]
    assert ratio == pytest.approx([q["sr"] for q in frame.ratio_ci()], abs=0.03)
    rows = [r for r in suite.tables["by_group"] if r["feature"] == "personal_status_and_sex"]
    for i, row in enumerate(rows):
        assert row["selection_rate_ci"] == pytest.approx(
            [frame.by_group_ci[0]["sr"].iloc[i], frame.by_group_ci[1]["sr"].iloc[i]], abs=0.03)


def test_bootstrap_is_seeded_and_can_be_off(german: pd.DataFrame) -> None:
    kwargs = dict(y_true=german["creditability"], y_pred=german["creditability"], sensitive=german,
                  positive_label="good", sensitive_features=["foreign_worker"])
    assert assess_fairness(**kwargs).to_dict() == assess_fairness(**kwargs).to_dict()  # type: ignore[arg-type]
    off = assess_fairness(**kwargs, policy=Policy.from_mapping({"fairness": {"bootstrap_samples": 0}}))  # type: ignore[arg-type]
    assert by(off, "demographic_parity_difference", "foreign_worker").details["ci"] is None
    assert off.tables["by_group"][0]["selection_rate_ci"] is None


def test_german_recorded_decisions_pass_and_injected_bias_fails(german: pd.DataFrame) -> None:
    truth = german["creditability"]
    fair = assess_fairness(y_true=truth, y_pred=truth, sensitive=german, positive_label="good",
                           sensitive_features=GERMAN_SENSITIVE)
    assert disparities(fair, "personal_status_and_sex") == dict.fromkeys(disparities(fair, "personal_status_and_sex"), True)
    assert by(fair, "demographic_parity_difference", "personal_status_and_sex").observed == pytest.approx(0.0970, abs=1e-4)

    female = german["personal_status_and_sex"].str.startswith("female").to_numpy()
    biased = flip_favourable(truth.to_numpy(), female, "good", "bad", share=0.4)
    suite = assess_fairness(y_true=truth, y_pred=biased, sensitive=german, positive_label="good",
                            sensitive_features=GERMAN_SENSITIVE)
    assert suite.passed is False
    assert disparities(suite, "personal_status_and_sex") == dict.fromkeys(disparities(suite, "personal_status_and_sex"), False)
    gap = by(suite, "demographic_parity_difference", "personal_status_and_sex")
    assert isinstance(gap.observed, float) and gap.observed > 0.25 and gap.severity is Severity.CRITICAL
    assert gap.details["ci"][0] > 0.1  # the whole interval is above the bound: not noise


def test_acs_model_passes_on_sex_and_injected_bias_fails(acs_2015: pd.DataFrame, acs_model: tuple) -> None:
    model, features = acs_model
    frame = sample(acs_2015, 30_000, seed=1)
    pred = model.predict(frame[features])
    fair = assess_fairness(y_true=frame["employed"], y_pred=pred, sensitive=frame, positive_label=1,
                           sensitive_features=["SEX"])
    assert fair.passed is True
    assert disparities(fair, "SEX") == {"demographic_parity_difference": True, "disparate_impact_ratio": True,
                                        "equalized_odds_difference": True}
    biased = flip_favourable(pred, (frame["SEX"] == "2").to_numpy(), 1, 0, share=0.3).astype(int)
    suite = assess_fairness(y_true=frame["employed"], y_pred=biased, sensitive=frame, positive_label=1,
                            sensitive_features=["SEX"])
    assert disparities(suite, "SEX") == {"demographic_parity_difference": False, "disparate_impact_ratio": False,
                                         "equalized_odds_difference": False}
    assert [r.subject for r in suite.blocking] == ["SEX", "SEX", "SEX"]


def test_bins_are_left_closed_and_labelled(german: pd.DataFrame) -> None:
    suite = assess_fairness(y_true=german["creditability"], y_pred=german["creditability"], sensitive=german,
                            positive_label="good", sensitive_features=[{"column": "age_in_years", "bins": [0, 25, 120]}])
    counts = {r["group"]: r["count"] for r in suite.tables["by_group"]}
    assert counts == {"[0, 25)": int((german["age_in_years"] < 25).sum()),
                      "[25, 120)": int((german["age_in_years"] >= 25).sum())}
    assert [r.subject for r in suite.results if r.name == "group_size"] == ["age_in_years=[0, 25)", "age_in_years=[25, 120)"]


def test_small_groups_are_not_judged_and_a_pass_that_depends_on_them_says_so(german: pd.DataFrame) -> None:
    # "male : divorced/separated" has 50 rows: under min_group_size 60 it is too small to judge.
    small = (german["personal_status_and_sex"] == "male : divorced/separated").to_numpy()
    biased = flip_favourable(german["creditability"].to_numpy(), small, "good", "bad", share=1.0)
    suite = assess_fairness(y_true=german["creditability"], y_pred=biased, sensitive=german, positive_label="good",
                            sensitive_features=["personal_status_and_sex"],
                            policy=Policy.from_mapping({"fairness": {"min_group_size": 60}}))
    size = by(suite, "group_size", "personal_status_and_sex=male : divorced/separated")
    assert (size.passed, size.observed, size.severity, size.details["status"]) == (None, 50.0, Severity.WARNING,
                                                                                    "too small to judge")
    gap = by(suite, "demographic_parity_difference", "personal_status_and_sex")
    assert gap.passed is True and gap.details["excluded_groups"] == ["male : divorced/separated"]
    assert gap.details["value_with_all_groups"] == pytest.approx(0.7129, abs=1e-4)
    findings = [r for r in suite.results if r.name == "small_group_exclusion"]
    assert [(f.details["metric"], f.passed, f.severity) for f in findings] == [
        ("demographic_parity_difference", False, Severity.WARNING),
        ("disparate_impact_ratio", False, Severity.WARNING),
        ("equalized_odds_difference", False, Severity.WARNING),
    ]
    assert findings[0].details["message"] == (
        "demographic_parity_difference passes (0.050) only because male : divorced/separated "
        "(fewer than 60 rows) were left out; with them it is 0.713")
    assert suite.passed is True and set(findings) <= set(suite.findings)


def test_too_few_judged_groups_is_not_judged(german: pd.DataFrame) -> None:
    suite = assess_fairness(y_true=german["creditability"], y_pred=german["creditability"], sensitive=german,
                            positive_label="good", sensitive_features=["foreign_worker"])
    gap = by(suite, "demographic_parity_difference", "foreign_worker")
    assert (gap.passed, gap.observed) == (False, pytest.approx(0.1993, abs=1e-4))  # 37 "no" rows: judged
    strict = assess_fairness(y_true=german["creditability"], y_pred=german["creditability"], sensitive=german,
                             positive_label="good", sensitive_features=["foreign_worker"],
                             policy=Policy.from_mapping({"fairness": {"min_group_size": 40}}))
    gap = by(strict, "demographic_parity_difference", "foreign_worker")
    assert (gap.passed, gap.observed, gap.details["reason"]) == (
        None, None, "fewer than two groups have at least 40 rows: the disparity cannot be judged")
    assert strict.passed is True and gap in strict.not_judged and gap in strict.findings


def test_intersection_and_table(german: pd.DataFrame) -> None:
    suite = assess_fairness(y_true=german["creditability"], y_pred=german["creditability"], sensitive=german,
                            positive_label="good", sensitive_features=GERMAN_SENSITIVE,
                            y_score=np.linspace(0, 1, len(german)))
    name = "personal_status_and_sex & age_in_years"
    assert suite.summary["features"] == ["personal_status_and_sex", "age_in_years", name]
    assert by(suite, "demographic_parity_difference", name).severity is Severity.WARNING
    rows = [r for r in suite.tables["by_group"] if r["feature"] == name]
    assert len(rows) == 8 and sum(r["count"] for r in rows) == 1000
    assert rows[2]["group"] == "male : divorced/separated & [0, 25)" and rows[2]["judged"] is False
    assert set(rows[0]) == {"feature", "group", "count", "positives", "negatives", "judged", "selection_rate",
                            "accuracy", "tpr", "fpr", "mean_score", "selection_rate_ci", "accuracy_ci", "tpr_ci", "fpr_ci"}
    labels = german["creditability"].eq("good").groupby(german["personal_status_and_sex"]).agg(["sum", "size"])
    for row in (r for r in suite.tables["by_group"] if r["feature"] == "personal_status_and_sex"):
        assert (row["positives"], row["positives"] + row["negatives"]) == tuple(labels.loc[row["group"]])
    assert 0 <= rows[0]["mean_score"] <= 1
    assert suite.summary["policy_hash"] == Policy().hash()


def test_undefined_disparity_is_not_judged(german: pd.DataFrame) -> None:
    nobody = np.full(len(german), "bad", dtype=object)  # no favourable prediction anywhere: 0 / 0
    suite = assess_fairness(y_true=german["creditability"], y_pred=nobody, sensitive=german, positive_label="good",
                            sensitive_features=["personal_status_and_sex"])
    ratio = by(suite, "disparate_impact_ratio", "personal_status_and_sex")
    assert (ratio.observed, ratio.passed) == (None, None)
    assert ratio.details["reason"] == (
        "undefined for these groups (no favourable prediction in any group, or a group without positive or "
        "negative labels): the disparity cannot be judged")
    assert by(suite, "demographic_parity_difference", "personal_status_and_sex").passed is True  # 0 - 0
