"""Per-column statistics and group sizes for the datasheets, checked against pandas on German credit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from govflow.governance.reports.data_statistics import column_statistics, group_counts

GERMAN = Path(__file__).parents[2] / "data" / "german_credit.csv"


@pytest.fixture(scope="module")
def german() -> pd.DataFrame:
    frame = pd.read_csv(GERMAN)
    frame.loc[[3, 10, 500], "credit_amount"] = np.nan  # some missing values, numeric and categorical
    frame.loc[[7, 8], "purpose"] = None
    return frame


def test_every_column_matches_pandas(german: pd.DataFrame) -> None:
    stats = {s.column: s for s in column_statistics(german)}
    assert list(stats) == list(german.columns)
    for column, s in stats.items():
        series = german[column]
        assert (s.dtype, s.count, s.missing, s.distinct) == (str(series.dtype), series.count(), series.isna().sum(),
                                                              series.nunique()), column
        if pd.api.types.is_numeric_dtype(series):
            assert s.minimum == pytest.approx(series.min()) and s.maximum == pytest.approx(series.max())
            assert s.mean == pytest.approx(series.mean(), rel=5e-6)  # 6 significant digits and s.top == ()
        else:
            counts = series.value_counts()
            assert s.top == tuple((str(v), int(n)) for v, n in counts.head(len(s.top)).items()), column
            assert s.minimum is None and len(s.top) == min(5, series.nunique())
    assert (stats["credit_amount"].missing, stats["purpose"].missing, stats["age_in_years"].missing) == (3, 2, 0)
    assert stats["creditability"].top == (("good", 700), ("bad", 300))


def test_an_all_missing_column_has_no_extremes() -> None:
    [s] = column_statistics(pd.DataFrame({"x": [np.nan, np.nan]}))
    assert (s.count, s.missing, s.minimum, s.mean) == (0, 2, None, None)


def test_group_counts_use_the_fairness_groups(german: pd.DataFrame) -> None:
    specs = ["personal_status_and_sex", {"column": "age_in_years", "bins": [0, 25, 120], "labels": {"[0, 25)": "young"}},
             "not_a_column"]
    found = dict(group_counts(german, specs))
    assert found["age_in_years"] == (("[0, 25)", int((german["age_in_years"] < 25).sum())),
                                     ("[25, 120)", int((german["age_in_years"] >= 25).sum())))
    assert dict(found["personal_status_and_sex"]) == german["personal_status_and_sex"].value_counts().to_dict()
    assert "not_a_column" not in found  # absent from this data set: nothing to count
