"""Recommender anomaly checks on MovieLens-format ratings: quiet on the version's own behaviour, firing
on an injected shift (lists collapsing to the most popular items, for everyone or for one group)."""

from __future__ import annotations

from pathlib import Path

import pytest

from govflow.checks.recommendations import Bounds, ListWindow, check_window, gini, percentiles, reference_of
from govflow.flows.models import recommender as rec
from govflow.flows.recommender_flow import load_recommender_config
from tests.recommender.synthetic import write_config

TOP_N = 5


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[rec.ImplicitSVD, dict[str, dict[str, str]], dict[str, int]]:
    config = load_recommender_config(write_config(tmp_path_factory.mktemp("ml"), users=600, items=200, seed=3))
    ratings = rec.read_atomic(config.path("inter"), "inter")
    users = rec.read_atomic(config.path("user"), "user")
    train, _ = rec.leave_last_out(ratings)
    model = rec.fit(config, train)
    groups = {str(u): {"gender": str(g), "age": "under 25" if int(a) < 25 else "25 and over"}
              for u, g, a in zip(users["user_id"], users["gender"], users["age"])}
    popularity = {str(i): int(n) for i, n in train["item_id"].value_counts().items()}
    return model, groups, popularity


def window(model: rec.ImplicitSVD, groups: dict[str, dict[str, str]], user_ids: list[str], *,
           popular_for: str | None = None) -> ListWindow:
    """The lists the model serves these users; ``popular_for`` ("all" or a gender) gets the popularity
    baseline instead: the injected shift."""
    lists = []
    for user in user_ids:
        shifted = popular_for == "all" or groups[user]["gender"] == popular_for
        items = model.popular_items(user, TOP_N) if shifted else model.recommend(user, TOP_N)[0]
        lists.append(tuple(items))
    return ListWindow(tuple(lists), tuple(groups[u] for u in user_ids))


def failed(results: tuple[object, ...]) -> dict[str, str]:
    return {f"{r.name}:{r.subject}": r.observed for r in results if r.passed is False}  # type: ignore[attr-defined]


def test_quiet_on_the_versions_own_lists(trained: tuple[rec.ImplicitSVD, dict[str, dict[str, str]], dict[str, int]]) -> None:
    model, groups, popularity = trained
    everyone = sorted(groups, key=int)
    reference = reference_of(window(model, groups, everyone).lists, sorted(popularity), popularity)
    first, second = window(model, groups, everyone[:300]), window(model, groups, everyone[300:])
    for checked in (check_window(first, reference), check_window(second, reference, previous=first)):
        assert failed(checked) == {}
        judged = {f"{r.name}:{r.subject}" for r in checked if r.passed is not None}
        assert judged == {"catalogue_coverage:recommended items", "popularity_gini:recommended items",
                          "recommendation_shift:popularity deciles", "exposure_disparity:gender",
                          "exposure_disparity:age"}


def test_an_injected_shift_fires_coverage_concentration_and_shift(
        trained: tuple[rec.ImplicitSVD, dict[str, dict[str, str]], dict[str, int]]) -> None:
    model, groups, popularity = trained
    everyone = sorted(groups, key=int)
    reference = reference_of(window(model, groups, everyone).lists, sorted(popularity), popularity)
    before = window(model, groups, everyone[:300])
    after = window(model, groups, everyone[300:], popular_for="all")
    fired = failed(check_window(after, reference, previous=before))
    assert {"catalogue_coverage:recommended items", "popularity_gini:recommended items",
            "recommendation_shift:popularity deciles"} <= set(fired)
    by_name = {r.name: r for r in check_window(after, reference, previous=before)}
    assert by_name["catalogue_coverage"].details["reference"] == reference.coverage
    assert by_name["recommendation_shift"].details["compared_with"] == "previous window"


def test_one_group_shifted_fires_the_exposure_disparity(
        trained: tuple[rec.ImplicitSVD, dict[str, dict[str, str]], dict[str, int]]) -> None:
    model, groups, popularity = trained
    everyone = sorted(groups, key=int)
    reference = reference_of(window(model, groups, everyone).lists, sorted(popularity), popularity)
    results = check_window(window(model, groups, everyone, popular_for="F"), reference, Bounds(ratio_min=0.8))
    (gender,) = [r for r in results if r.name == "exposure_disparity" and r.subject == "gender"]
    assert gender.passed is False and gender.details["lowest"] == "F"
    assert isinstance(gender.observed, float) and gender.observed < 0.8
    (age,) = [r for r in results if r.name == "exposure_disparity" and r.subject == "age"]
    assert age.passed is True  # gender is independent of age: both age groups lose alike


def test_small_windows_and_groups_are_not_judged() -> None:
    reference = reference_of([("1", "2"), ("3", "1")], ["1", "2", "3", "4"], {"1": 5, "2": 3, "3": 1, "4": 1})
    results = check_window(ListWindow((("1", "2"),) * 5, ({"gender": "F"},) * 5), reference)
    assert all(r.passed is None for r in results)
    (disparity,) = [r for r in results if r.name == "exposure_disparity"]
    assert disparity.details["why"] == "fewer than two groups with 30 lists"


def test_gini_and_percentiles() -> None:
    assert gini([1, 1, 1, 1]) == 0.0
    assert gini([0, 0, 0, 4]) == pytest.approx(0.75)
    assert gini([]) == 0.0
    assert percentiles({"a": 6, "b": 3, "c": 1, "d": 3}) == {"a": 0.0, "b": 1 / 3, "d": 2 / 3, "c": 1.0}
    with pytest.raises(ValueError, match="groups: one mapping per list, or none"):
        ListWindow((("a",),), ({"g": "x"}, {"g": "y"}))


def test_the_checks_module_stays_pure() -> None:
    source = (Path(__file__).resolve().parents[2] / "checks" / "recommendations.py").read_text()
    assert "sqlalchemy" not in source and "open(" not in source


def test_policy_exposure_ratio_min() -> None:
    from govflow.checks.policy import Policy
    from govflow.errors import ConfigError

    assert "exposure" not in Policy().to_dict()  # left out at its default: earlier policies hash the same
    assert Policy.from_mapping({}).hash() == Policy().hash()
    stricter = Policy.from_mapping({"exposure": {"ratio_min": 0.9}})
    assert stricter.exposure.ratio_min == 0.9 and stricter.to_dict()["exposure"] == {"ratio_min": 0.9}
    with pytest.raises(ConfigError) as caught:
        Policy.from_mapping({"exposure": {"ratio_mn": 0.9}})
    assert str(caught.value).startswith("policy.exposure.ratio_mn")
