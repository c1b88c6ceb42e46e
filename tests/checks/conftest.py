"""Fixtures for the checks: the bundled real data sets, loaded once per session.

The large ACS frames are subsampled where a test's point does not need every row; the tests that
are about the real data (its drift between years) use the full years.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

DATA = Path(__file__).resolve().parents[2] / "data"
ACS = DATA / "acs_employment_ma"
ACS_FEATURES = ["AGEP", "SCHL", "MAR", "RELP", "DIS", "ESP", "CIT", "MIG", "MIL", "ANC", "NATIVITY",
                "DEAR", "DEYE", "DREM", "SEX", "RAC1P"]
GERMAN_SENSITIVE = ["personal_status_and_sex", {"column": "age_in_years", "bins": [0, 25, 120]}]


def pytest_configure(config: pytest.Config) -> None:
    # Evidently and GX raise DeprecationWarnings on import and use; checks/ silences those it
    # triggers itself, these keep a `-W error` run of this folder green where they leak anyway.
    for line in (
        "ignore::DeprecationWarning:evidently.*",
        "ignore::DeprecationWarning:great_expectations.*",
        "ignore::FutureWarning:evidently.*",
        "ignore::DeprecationWarning:pydantic.*",
    ):
        config.addinivalue_line("filterwarnings", line)


@pytest.fixture(scope="session")
def german() -> pd.DataFrame:
    """Statlog German credit, 1000 rows; `creditability` good/bad (the bank's recorded decision)."""
    return pd.read_csv(DATA / "german_credit.csv")


@pytest.fixture(scope="session")
def acs_2015() -> pd.DataFrame:
    """ACS employment, Massachusetts 2015 (68,785 rows), without the bundled model's columns."""
    return pd.read_parquet(ACS / "reference_2015.parquet").drop(columns=["prediction", "predicted_probability"])


@pytest.fixture(scope="session")
def acs_later() -> pd.DataFrame:
    """ACS employment 2016-2018 (208,892 rows) joined with their labels."""
    frame = pd.read_parquet(ACS / "analysis_2016_2018.parquet").drop(columns=["prediction", "predicted_probability"])
    return frame.merge(pd.read_parquet(ACS / "analysis_2016_2018_target.parquet"), on="id", validate="1:1")


@pytest.fixture(scope="session")
def acs_model(acs_2015: pd.DataFrame):  # type: ignore[no-untyped-def]
    """A logistic regression of `employed` on the ACS features except SEX and RAC1P."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    features = [c for c in ACS_FEATURES if c not in ("SEX", "RAC1P")]
    pre = ColumnTransformer([("num", StandardScaler(), ["AGEP"]),
                             ("cat", OneHotEncoder(handle_unknown="ignore"), features[1:])])
    model = Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=500))])
    train = acs_2015.sample(20_000, random_state=0)
    return model.fit(train[features], train["employed"]), features


def sample(frame: pd.DataFrame, n: int, seed: int = 0) -> pd.DataFrame:
    """`n` rows drawn without replacement, with a fresh index."""
    return frame.sample(n, random_state=seed).reset_index(drop=True)


def flip_favourable(pred: np.ndarray, mask: np.ndarray, favourable: object, unfavourable: object,
                    share: float, seed: int = 0) -> np.ndarray:
    """Injected bias: turn `share` of the favourable predictions inside `mask` unfavourable."""
    rng = np.random.default_rng(seed)
    out = np.asarray(pred, dtype=object).copy()
    hit = mask & (out == favourable) & (rng.random(len(out)) < share)
    out[hit] = unfavourable
    return out
