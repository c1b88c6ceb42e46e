"""The recommendation scenario's model: a movie recommender on MovieLens-format ratings.

Plain functions and one small model class; the recorded flow and the serving side are in
`govflow.flows.recommender_flow`. The data are RecBole "atomic files" (tab-separated, a header of
``name:type`` fields): ``*.inter`` (user_id, item_id, rating, timestamp), ``*.user`` (user_id, age,
gender, occupation, zip_code) and ``*.item`` (item_id, movie_title, release_year, class = genres
separated by spaces), as MovieLens 100k ships inside the ``recbole`` wheel
(``govflow data fetch movielens-100k``) and as the tests generate them.

The model (`ImplicitSVD`) is implicit matrix factorisation: the user x item matrix of "rated it"
(1/0) is factorised by truncated SVD (scikit-learn), a user's score for an item is the dot product
of their factors, and items the user already rated are never recommended. A user unknown to the
model (cold start) gets the most-rated items. The model never sees a user's gender or age: those
come with a request as sensitive attributes, stored apart, for exposure monitoring only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_serializer

from govflow.checks.policy import Policy
from govflow.checks.results import CheckKind, CheckResult, Severity, SuiteResult
from govflow.errors import DataError
from govflow.governance.config import LoggingSection, SensitiveFeature, ServingSection, SystemSection

KIND: Literal["recommender"] = "recommender"  # the config snapshot's "kind": how serving tells a recommender from a classifier
FILES = ("inter", "user", "item")
NEEDED = {"inter": ("user_id", "item_id", "rating", "timestamp"), "user": ("user_id",),
          "item": ("item_id", "movie_title", "class")}
BAD_FILE = "{file}: not a RecBole atomic file ({reason}); expected a tab-separated header such as user_id:token"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _default_sensitive() -> list[str | SensitiveFeature]:
    return ["gender", SensitiveFeature(column="age", bins=[0, 25, 35, 50, 120])]


class RecommenderData(_Strict):
    folder: str = Field(description="Folder holding the three atomic files, relative to the config file.")
    prefix: str = Field("ml-100k", description="File name stem: PREFIX.inter, PREFIX.user, PREFIX.item.")
    sensitive_features: list[str | SensitiveFeature] = Field(
        default_factory=_default_sensitive,
        description="User attributes exposure is monitored by (never model inputs).")
    seed: int = Field(42, description="Seed of the factorisation.")

    @property
    def positive_label(self) -> None:
        """A recommender makes no yes/no decision (the prediction service reports this as null)."""
        return None


class RecommenderModel(_Strict):
    estimator: Literal["implicit_svd"] = "implicit_svd"
    factors: int = Field(32, ge=1, description="Latent factors of the truncated SVD.")
    top_n: int = Field(10, ge=1, le=100, description="Items per recommendation list.")


class RecommenderEvaluation(_Strict):
    """The offline gate of a recommender (its `evaluation:` section)."""

    hit_rate_min: float = Field(0.0, ge=0, le=1, description="Smallest leave-last-out hit rate at top_n.")
    beat_popularity: bool = Field(True, description="Must beat the most-rated-items baseline's hit rate.")


class RecommenderConfig(_Strict):
    """A recommender system's govflow.yaml (``kind: recommender``)."""

    kind: Literal["recommender"] = KIND
    system: SystemSection
    data: RecommenderData
    model: RecommenderModel = Field(default_factory=RecommenderModel)
    evaluation: RecommenderEvaluation = Field(default_factory=RecommenderEvaluation)
    policy: dict[str, Any] = Field(default_factory=dict, description="The shared policy keys (approvals, fairness...).")
    logging: LoggingSection = Field(default_factory=LoggingSection)
    serving: ServingSection = Field(default_factory=ServingSection)
    base_dir: str = Field("", exclude=True)

    @model_serializer(mode="wrap")
    def _dump(self, handler: Any) -> dict[str, Any]:
        # At its default, serving: is left out, so configs written before it keep their config hash.
        dumped: dict[str, Any] = handler(self)
        if dumped.get("serving") == ServingSection().model_dump(mode="json"):
            dumped.pop("serving")
        return dumped

    def path(self, kind: str) -> Path:
        return Path(self.base_dir) / self.data.folder / f"{self.data.prefix}.{kind}"

    def sensitive(self) -> list[SensitiveFeature]:
        return [SensitiveFeature(column=s) if isinstance(s, str) else s for s in self.data.sensitive_features]

    def snapshot(self) -> dict[str, Any]:
        return {**self.model_dump(mode="json"), "base_dir": self.base_dir}


# -- data ------------------------------------------------------------------------------------------

def read_atomic(path: Path, kind: str) -> pd.DataFrame:
    """One atomic file as a frame, columns named without their ``:type``; ids as strings."""
    if not path.exists():
        raise DataError(f"{path} not found: run `govflow data fetch movielens-100k`, or point data.folder at the files")
    try:
        frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, encoding="utf-8", quoting=3)
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise DataError(BAD_FILE.format(file=path, reason=str(e).splitlines()[0])) from e
    frame.columns = [str(c).split(":", 1)[0] for c in frame.columns]
    missing = [c for c in NEEDED[kind] if c not in frame.columns]
    if missing:
        raise DataError(BAD_FILE.format(file=path, reason=f"no column(s) {', '.join(missing)}"))
    if kind == "inter":
        frame["rating"] = pd.to_numeric(frame["rating"], errors="raise")
        frame["timestamp"] = pd.to_numeric(frame["timestamp"], errors="raise").astype("int64")
    frame.attrs["govflow:name"] = path.name
    return frame


def leave_last_out(ratings: pd.DataFrame, min_history: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(train, test)``: each user with at least ``min_history`` ratings has their latest one held out."""
    ordered = ratings.sort_values(["user_id", "timestamp", "item_id"], kind="mergesort")
    counts = ordered.groupby("user_id")["item_id"].transform("size")
    is_last = ~ordered.duplicated("user_id", keep="last") & (counts >= min_history)
    train, test = ordered[~is_last].reset_index(drop=True), ordered[is_last].reset_index(drop=True)
    train.attrs["govflow:name"] = f"{ratings.attrs.get('govflow:name', 'ratings')} (train)"
    test.attrs["govflow:name"] = f"{ratings.attrs.get('govflow:name', 'ratings')} (held-out last rating)"
    return train, test


def item_catalog(items: pd.DataFrame, ratings: pd.DataFrame) -> dict[str, Any]:
    """Per item: title and categories (``genre`` and a ``popularity`` tier) for exposure reports.

    Popularity tiers by number of ratings: ``head`` is the most-rated items that together hold the
    first third of all ratings, ``tail`` those holding the last third, ``mid`` the rest.
    """
    counts = ratings["item_id"].value_counts()
    order = counts.sort_values(ascending=False, kind="mergesort")
    before = (order.cumsum() - order) / order.sum()  # share of all ratings held by more-rated items
    tier = {str(i): ("head" if b < 1 / 3 else "tail" if b >= 2 / 3 else "mid") for i, b in before.items()}
    out = {}
    for row in items.to_dict("records"):
        item, year = str(row["item_id"]), row.get("release_year", "")
        out[item] = {"title": f"{row['movie_title']} ({year})" if year else str(row["movie_title"]),
                     "categories": {"genre": str(row["class"]).split() or ["unknown"],
                                    "popularity": [tier.get(item, "tail")]}}
    return {"items": out}


# -- the model -------------------------------------------------------------------------------------

@dataclass
class ImplicitSVD:
    """Truncated-SVD factorisation of the implicit "rated it" matrix (see the module docstring)."""

    factors: int = 32
    seed: int = 42
    users: dict[str, int] | None = None
    items: np.ndarray | None = None  # item ids, by column
    user_factors: np.ndarray | None = None
    item_factors: np.ndarray | None = None
    seen: dict[str, np.ndarray] | None = None
    popular: np.ndarray | None = None  # column indices, most-rated first

    def fit(self, ratings: pd.DataFrame) -> ImplicitSVD:
        from scipy.sparse import csr_matrix
        from sklearn.decomposition import TruncatedSVD

        users = sorted(ratings["user_id"].unique(), key=_natural)
        items = sorted(ratings["item_id"].unique(), key=_natural)
        if len(items) < 2:
            raise DataError("the ratings hold fewer than two items: nothing to recommend")
        self.users = {u: i for i, u in enumerate(users)}
        self.items = np.array(items, dtype=object)
        col = {it: j for j, it in enumerate(items)}
        rows = ratings["user_id"].map(self.users).to_numpy()
        cols = ratings["item_id"].map(col).to_numpy()
        matrix = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(users), len(items)))
        matrix.data[:] = 1.0  # a user who rated an item twice still "rated it" once
        k = max(1, min(self.factors, len(items) - 1, len(users) - 1 or 1))
        svd = TruncatedSVD(n_components=k, random_state=self.seed)
        self.user_factors = svd.fit_transform(matrix).astype(np.float32)
        self.item_factors = svd.components_.astype(np.float32)
        self.seen = {u: np.asarray(sorted(set(cols[rows == i]))) for u, i in self.users.items()}
        counts = np.asarray(matrix.sum(axis=0)).ravel()
        self.popular = np.lexsort((np.arange(len(items)), -counts))
        return self

    def recommend(self, user_id: str, n: int) -> tuple[list[str], list[float], bool]:
        """``(item ids best first, their scores, cold_start)``."""
        assert self.items is not None and self.popular is not None and self.users is not None
        index = self.users.get(str(user_id))
        if index is None:
            top = self.popular[:n]
            return [str(i) for i in self.items[top]], [0.0] * len(top), True
        assert self.user_factors is not None and self.item_factors is not None and self.seen is not None
        scores = self.user_factors[index] @ self.item_factors
        scores[self.seen[str(user_id)]] = -np.inf
        n = min(n, int(np.isfinite(scores).sum()))
        top = np.argsort(-scores, kind="stable")[:n]
        return [str(i) for i in self.items[top]], [round(float(scores[j]), 6) for j in top], False

    def popular_items(self, user_id: str, n: int) -> list[str]:
        """The baseline: the most-rated items the user has not rated."""
        assert self.items is not None and self.popular is not None and self.seen is not None
        seen = set(self.seen.get(str(user_id), np.array([], dtype=int)).tolist())
        return [str(self.items[j]) for j in self.popular if j not in seen][:n]


def _natural(value: str) -> tuple[int, str]:
    return (int(value), "") if value.isascii() and value.isdigit() else (1 << 62, value)


def fit(config: RecommenderConfig, train: pd.DataFrame) -> ImplicitSVD:
    return ImplicitSVD(factors=config.model.factors, seed=config.data.seed).fit(train)


# -- evaluation ------------------------------------------------------------------------------------

def user_groups(users: pd.DataFrame, config: RecommenderConfig) -> pd.DataFrame:
    """user_id -> group label per sensitive attribute (ages binned left-closed, as the dashboard does)."""
    from govflow.governance.trail.dashboard_data import group_labels

    spec = {s.column: s.bins for s in config.sensitive()}
    wanted = [c for c in spec if c in users.columns]
    rows = [{"user_id": u, **group_labels(dict(zip(wanted, vals)), spec)}
            for u, *vals in users[["user_id", *wanted]].itertuples(index=False)]
    return pd.DataFrame(rows, columns=["user_id", *wanted])


def evaluate(config: RecommenderConfig, model: ImplicitSVD, test: pd.DataFrame, users: pd.DataFrame) -> SuiteResult:
    """Leave-last-out hit rate and NDCG at ``top_n``, against the popularity baseline, overall
    (critical, the gate) and per user group (warnings: who the recommender serves worse)."""
    n = config.model.top_n
    policy = config.evaluation
    hits, gains, base_hits = [], [], []
    for user, item in test[["user_id", "item_id"]].itertuples(index=False):
        recommended, _, _ = model.recommend(user, n)
        rank = recommended.index(item) + 1 if item in recommended else 0
        hits.append(1.0 if rank else 0.0)
        gains.append(1.0 / np.log2(rank + 1) if rank else 0.0)
        base_hits.append(1.0 if item in model.popular_items(user, n) else 0.0)
    frame = test[["user_id"]].assign(hit=hits, ndcg=gains, baseline=base_hits)
    hit_rate, baseline = float(np.mean(hits)) if hits else 0.0, float(np.mean(base_hits)) if base_hits else 0.0
    results = [
        CheckResult(kind=CheckKind.PERFORMANCE, name=f"hit_rate_at_{n}", subject="overall", observed=hit_rate,
                    threshold=policy.hit_rate_min, passed=hit_rate >= policy.hit_rate_min, severity=Severity.CRITICAL,
                    details={"users": len(frame), "ndcg": float(np.mean(gains)) if gains else 0.0}),
    ]
    if policy.beat_popularity:
        results.append(CheckResult(kind=CheckKind.PERFORMANCE, name=f"hit_rate_at_{n}_vs_popularity", subject="overall",
                                   observed=hit_rate, threshold=baseline, passed=hit_rate > baseline,
                                   severity=Severity.CRITICAL, details={"baseline": "most-rated unseen items"}))
    groups = user_groups(users, config)
    merged = frame.merge(groups, on="user_id", how="left")
    min_size = Policy.from_mapping(config.policy).fairness.min_group_size
    table = []
    for attribute in [c for c in groups.columns if c != "user_id"]:
        for group, part in merged.groupby(attribute):
            rate = float(part["hit"].mean())
            judged = len(part) >= min_size
            table.append({"attribute": attribute, "group": group, "users": len(part), "hit_rate": rate})
            results.append(CheckResult(
                kind=CheckKind.PERFORMANCE, name=f"hit_rate_at_{n}", subject=f"{attribute}={group}", observed=rate,
                threshold=policy.hit_rate_min, passed=(rate >= policy.hit_rate_min) if judged else None,
                severity=Severity.WARNING, details={"users": len(part)} if judged else
                {"users": len(part), "reason": f"fewer than {min_size} users: not judged"}))
    return SuiteResult(kind=CheckKind.PERFORMANCE, results=tuple(results),
                       summary={"hit_rate": hit_rate, "popularity_hit_rate": baseline, "top_n": n,
                                "ndcg": float(np.mean(gains)) if gains else 0.0, "users": len(frame)},
                       tables={"by_group": tuple(table)})
