"""The recommender's plain functions on the synthetic ratings: data, split, model, evaluation, catalogue."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from govflow.errors import ConfigError, DataError
from govflow.flows.models import recommender as rec
from govflow.flows.recommender_flow import input_contract, load_recommender_config
from tests.recommender.synthetic import write_movielens


def tables(config_file: Path) -> tuple[rec.RecommenderConfig, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    config = load_recommender_config(config_file)
    return (config, rec.read_atomic(config.path("inter"), "inter"), rec.read_atomic(config.path("user"), "user"),
            rec.read_atomic(config.path("item"), "item"))


def test_synthetic_files_read_like_movielens(config_file: Path) -> None:
    _, ratings, users, items = tables(config_file)
    assert list(ratings.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert list(users.columns) == ["user_id", "age", "gender", "occupation", "zip_code"]
    assert list(items.columns) == ["item_id", "movie_title", "release_year", "class"]
    assert (len(ratings), len(users), len(items)) == (880, 80, 40)
    assert ratings["rating"].between(1, 5).all() and ratings["user_id"].dtype == object


def test_bad_files_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"ml-100k.inter not found: run `govflow data fetch movielens-100k`"):
        rec.read_atomic(tmp_path / "ml-100k.inter", "inter")
    (tmp_path / "x.inter").write_text("user\titem\n1\t2\n")
    with pytest.raises(DataError) as e:
        rec.read_atomic(tmp_path / "x.inter", "inter")
    assert str(e.value) == (f"{tmp_path / 'x.inter'}: not a RecBole atomic file (no column(s) user_id, item_id, rating, "
                            "timestamp); expected a tab-separated header such as user_id:token")


def test_config_errors(tmp_path: Path) -> None:
    path = tmp_path / "govflow.yaml"
    path.write_text("kind: recommender\nsystem: {name: r, intended_purpose: x}\ndata: {folder: ., prefx: a}\n")
    with pytest.raises(ConfigError) as e:
        load_recommender_config(path)
    assert str(e.value) == f"{path}: data.prefx: unknown key"


def test_leave_last_out_holds_out_each_users_latest() -> None:
    ratings = pd.DataFrame({"user_id": ["1"] * 5 + ["2"] * 3, "item_id": list("abcdeabc"),
                            "rating": [5.0] * 8, "timestamp": [5, 1, 2, 3, 4, 1, 2, 3]})
    train, test = rec.leave_last_out(ratings, min_history=5)
    assert test[["user_id", "item_id"]].values.tolist() == [["1", "a"]]  # user 2 has too short a history
    assert len(train) == 7


def test_model_recommends_unseen_items_and_falls_back_to_popular(config_file: Path) -> None:
    config, ratings, _, _ = tables(config_file)
    model = rec.fit(config, ratings)
    items, scores, cold = model.recommend("1", 5)
    seen = set(ratings.loc[ratings["user_id"] == "1", "item_id"])
    assert len(items) == 5 and not (set(items) & seen) and not cold
    assert scores == sorted(scores, reverse=True)
    assert model.recommend("1", 5) == (items, scores, cold)  # deterministic
    popular = ratings["item_id"].value_counts()
    cold_items, _, is_cold = model.recommend("no-such-user", 3)
    assert is_cold and cold_items == sorted(popular.index, key=lambda i: (-popular[i], int(i)))[:3]


def test_evaluation_beats_popularity_on_structured_data(config_file: Path) -> None:
    config, ratings, users, _ = tables(config_file)
    train, test = rec.leave_last_out(ratings)
    suite = rec.evaluate(config, rec.fit(config, train), test, users)
    assert suite.passed
    assert suite.summary["users"] == 80 and suite.summary["hit_rate"] > suite.summary["popularity_hit_rate"]
    subjects = [r.subject for r in suite.results]
    assert subjects[:2] == ["overall", "overall"]
    assert set(subjects[2:]) == {"gender=F", "gender=M", "age=[0, 25)", "age=[25, 35)", "age=[35, 50)", "age=[50, 120)"}


def test_catalogue_tiers_by_hand() -> None:
    items = pd.DataFrame({"item_id": ["1", "2", "3", "4"], "movie_title": ["A", "B", "C", "D"],
                          "release_year": ["1995", "", "1990", "1991"], "class": ["Action Sci-Fi", "Drama", "", "Drama"]})
    # ratings: item 1 x6, 2 x3, 3 x2, 4 x1 (12): before-shares 0, 0.5, 0.75, 0.917
    ratings = pd.DataFrame({"item_id": ["1"] * 6 + ["2"] * 3 + ["3"] * 2 + ["4"]})
    catalog = rec.item_catalog(items, ratings)["items"]
    assert catalog["1"] == {"title": "A (1995)", "categories": {"genre": ["Action", "Sci-Fi"], "popularity": ["head"]}}
    assert catalog["2"] == {"title": "B", "categories": {"genre": ["Drama"], "popularity": ["mid"]}}
    assert [catalog[i]["categories"]["popularity"] for i in ("3", "4")] == [["tail"], ["tail"]]
    assert catalog["3"]["categories"]["genre"] == ["unknown"]


def test_input_contract_from_users(tmp_path: Path) -> None:
    write_movielens(tmp_path, users=10)
    users = rec.read_atomic(tmp_path / "ml-100k.user", "user")
    cfg = rec.RecommenderConfig.model_validate({"system": {"name": "r", "intended_purpose": "x"},
                                                "data": {"folder": "."}})
    assert input_contract(cfg, users) == {"columns": {
        "user_id": {"type": "integer", "max_null_rate": 0.0},
        "gender": {"type": "category", "allowed": ["F", "M"], "max_null_rate": 0.0},
        "age": {"type": "integer", "min": 19, "max": 62, "max_null_rate": 0.0}}}
