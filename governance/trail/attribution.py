"""How much each input feature pushed one decision: the arithmetic of an explanation.

Two methods, each named in the explanation it produces:

* ``exact-linear``: a logistic regression (bare, or the last step of a pipeline whose preprocessing
  maps each output column to one input column: scaling, imputing, one-hot encoding in a
  ColumnTransformer). Its log-odds are ``intercept + sum(coef_k * z_k)`` over the transformed columns
  ``z``; a feature's contribution is the sum over the columns it became. Exact: the intercept and the
  contributions add up to the score's log-odds.
* ``baseline-shapley-sampled``: any model and pipeline, through its probability alone. Shapley values
  of the log-odds against ONE baseline record (the training data's medians and most frequent
  values): for sampled orders of the features (each order with its reverse), the features are
  switched one at a time from their baseline value to the person's, and each switch's change of
  log-odds is credited to that feature. Every order's credits add up to ``f(x) - f(baseline)``
  exactly, so the explanation's terms always add up to the score's log-odds; only how the total is
  shared between features is estimated (seeded by the prediction id: the same every time).
  ``shap`` (the library) is not in the pinned stack; this is its "interventional, single background
  record" estimate, computed with what is installed.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

LINEAR = "exact-linear"
SAMPLED = "baseline-shapley-sampled"
ITEM_FACTORS = "item-factors-exact"  # a recommender's lists: govflow.flows.models.recommender_explaining
EPS = 1e-12
ORDERS = 24  # sampled orders (12 and their reverses); 21 features -> 24 x 22 rows in one predict call


def method_for(estimator: str | None, *, mitigated: bool = False) -> str:
    """The explanation method a version's decisions get, in words, for its model card."""
    if estimator == "implicit_svd":
        return (f"`{ITEM_FACTORS}`: each recommended item's score split exactly over the items the user rated in "
                "training (their factors' dot product with the item's), plus the remainder of the user's factors")
    if estimator == "logistic_regression" and not mitigated:
        return (f"`{LINEAR}`: each feature's exact contribution to the decision's log-odds (coefficient x "
                "transformed value); with the intercept they add up to the score's log-odds")
    return (f"`{SAMPLED}`: baseline Shapley values of the decision's log-odds against the training data's "
            f"median record ({ORDERS} sampled feature orders, seeded by the prediction id); they add up to the "
            f"score's log-odds minus the baseline's (`{LINEAR}` instead where the model proves to be a logistic regression)")


def log_odds(p: Any) -> Any:
    clipped = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    return np.log(clipped / (1 - clipped))


@dataclass(frozen=True)
class Attribution:
    """The terms of one decision's log-odds: ``base + sum(contributions) == log_odds`` (float error only)."""

    method: str
    base: float  # the intercept (exact-linear) or the baseline record's log-odds (sampled)
    base_label: str  # what ``base`` is, in words
    contributions: dict[str, float]  # feature -> its push on the log-odds (+ towards the favourable outcome)
    log_odds: float  # of the score this method recomputed


def _output_owners(prep: Any, columns: Sequence[str]) -> list[str] | None:
    """For each column the preprocessing outputs, the input column it came from; None when unknown."""
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

    if isinstance(prep, FunctionTransformer) and prep.func is None:
        return list(columns)
    if not isinstance(prep, ColumnTransformer):
        return None
    owners: list[str | None] = [None] * sum(s.stop - s.start for s in prep.output_indices_.values())
    for name, transformer, cols in prep.transformers_:
        out = prep.output_indices_.get(name)
        if transformer == "drop" or out is None or out.stop == out.start:
            continue
        cols = [columns[int(c)] if isinstance(c, int | np.integer) else str(c) for c in np.atleast_1d(cols)]
        if isinstance(transformer, OneHotEncoder):
            dropped = transformer.drop_idx_ if transformer.drop_idx_ is not None else [None] * len(cols)
            if getattr(transformer, "_infrequent_enabled", False):
                return None
            mine = [c for c, cats, d in zip(cols, transformer.categories_, dropped) for _ in range(len(cats) - (d is not None))]
        else:
            mine = list(cols)  # one output per input (scalers, imputers without indicators, passthrough)
        if len(mine) != out.stop - out.start:
            return None
        owners[out.start:out.stop] = mine
    return None if any(o is None for o in owners) else [str(o) for o in owners]


def linear_attribution(model: Any, frame: pd.DataFrame) -> Attribution | None:
    """Exact contributions for a logistic regression; None when the model is not one we can split."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    if isinstance(model, Pipeline) and len(model.steps) >= 2:
        prep = model.steps[0][1] if len(model.steps) == 2 else None
        final = model.steps[-1][1]
    else:
        prep, final = FunctionTransformer(), model
    if prep is None or not isinstance(final, LogisticRegression) or final.coef_.shape[0] != 1:
        return None
    owners = _output_owners(prep, [str(c) for c in frame.columns])
    if owners is None:
        return None
    z = np.asarray(prep.transform(frame) if not isinstance(prep, FunctionTransformer) else frame, dtype=float)[0]
    if z.shape[0] != len(owners):
        return None
    terms = final.coef_[0] * z
    contributions: dict[str, float] = {str(c): 0.0 for c in frame.columns}
    for owner, term in zip(owners, terms):
        contributions[owner] += float(term)
    intercept = float(final.intercept_[0])
    return Attribution(LINEAR, intercept, "the model's intercept", contributions, intercept + float(terms.sum()))


def _seed(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")


def sampled_attribution(predict: Callable[[pd.DataFrame], Any], frame: pd.DataFrame, baseline: pd.DataFrame,
                        features: Sequence[str], *, key: str, orders: int = ORDERS) -> Attribution:
    """Baseline Shapley of ``log_odds(predict(.))`` for ``features`` of the one-row ``frame``.

    ``predict`` maps a frame to the probability of the favourable outcome; ``baseline`` is one row
    with the same columns (features not listed keep the person's own value throughout).
    """
    n = len(features)
    rng = np.random.default_rng(_seed(key))
    if math.factorial(n) <= orders:
        import itertools

        perms = [list(p) for p in itertools.permutations(range(n))]
    else:
        half = [rng.permutation(n).tolist() for _ in range(orders // 2)]
        perms = half + [p[::-1] for p in half]
    # Row k of order p has the person's values for the first k features of p, the baseline's for the
    # rest: one boolean mask, then every column built at once (one predict call for all rows).
    mask = np.zeros((len(perms), n + 1, n), dtype=bool)
    for row, perm in enumerate(perms):
        for k, index in enumerate(perm, start=1):
            mask[row, k:, index] = True
    switched = mask.reshape(-1, n)
    columns = {}
    for name in frame.columns:
        own = np.repeat(frame[name].to_numpy(), len(switched))
        if name in features:
            base_value = np.repeat(baseline[name].to_numpy(), len(switched))
            own = np.where(switched[:, features.index(name)], own, base_value)
        columns[name] = own
    batch = pd.DataFrame(columns).astype(frame.dtypes.to_dict(), errors="ignore")
    values = log_odds(predict(batch)).reshape(len(perms), n + 1)
    credit = np.zeros(n)
    for row, perm in zip(values, perms):
        credit[perm] += np.diff(row)
    credit /= len(perms)
    base = float(values[0, 0])
    return Attribution(SAMPLED, base, "the log-odds of a baseline record (the training data's medians and most "
                       "frequent values)", {f: float(c) for f, c in zip(features, credit)}, float(values[0, -1]))


def baseline_record(reference: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """One row: each numeric column's median (rounded like its dtype), else its most frequent value."""
    values: dict[str, Any] = {}
    for name in columns:
        column = reference[name].dropna()
        if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
            values[name] = column.mode().iloc[0] if len(column) else None
        else:
            median = float(column.median()) if len(column) else 0.0
            values[name] = round(median) if pd.api.types.is_integer_dtype(column) else median
    row = pd.DataFrame([values], columns=list(columns))
    return row.astype({c: reference[c].dtype for c in columns}, errors="ignore")
