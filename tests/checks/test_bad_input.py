"""Bad input fails with a DataError naming the column and the fix (exact text)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from govflow.checks.contract import infer_contract
from govflow.checks.drift import assess_drift
from govflow.checks.fairness import assess_fairness
from govflow.checks.performance import assess_performance
from govflow.errors import ConfigError, DataError, GovflowError

Y = pd.Series(["good", "bad"] * 20, name="creditability")
SENSITIVE = pd.DataFrame({"sex": ["f", "m"] * 20, "age": [20, 40] * 20})


def fairness(**changes: object) -> None:
    kwargs: dict[str, object] = dict(y_true=Y, y_pred=Y, sensitive=SENSITIVE, positive_label="good",
                                     sensitive_features=["sex"])
    kwargs.update(changes)
    assess_fairness(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sensitive_features": ["gender"]},
         "column 'gender' is not in the sensitive features (its columns: 'sex', 'age'): "
         "fix the column name in govflow.yaml or add the column to the data"),
        ({"sensitive": SENSITIVE.assign(age=["20", "40"] * 20),
          "sensitive_features": [{"column": "age", "bins": [0, 30, 120]}]},
         "column 'age' in the sensitive features has dtype object, expected a numeric dtype, because it has bins: "
         "convert it to numbers, or remove its bins to treat it as categories"),
        ({"y_true": pd.Series(["good", "bad", "unknown", "good"] * 10, name="creditability")},
         "column 'creditability' has 3 distinct values ('bad', 'good', 'unknown'), but this check needs a binary "
         "outcome: map it to two classes (the favourable outcome and the rest) first"),
        ({"positive_label": "approved"},
         "positive label 'approved' is not a value of column 'creditability' (its values: 'bad', 'good'): "
         "set data.positive_label to the favourable one"),
        ({"sensitive": SENSITIVE.assign(sex=None)},
         "column 'sex' in the sensitive features has only missing values: fill it, or drop it from the config"),
        ({"y_true": Y.iloc[:0], "y_pred": Y.iloc[:0], "sensitive": SENSITIVE.iloc[:0]},
         "the sensitive features frame is empty (0 rows): pass at least one row"),
        ({"sensitive": SENSITIVE.assign(sex="f")},
         "sensitive feature 'sex' has a single group ('f'): fairness needs at least two groups; "
         "check the column, or its bins in data.sensitive_features"),
        ({"y_pred": Y.iloc[:30]},
         "y_true has 40 rows but y_pred has 30: pass rows aligned one to one (same length, same order)"),
        ({"sensitive": SENSITIVE.iloc[:39]},
         "y_true has 40 rows but the sensitive features frame has 39: "
         "pass rows aligned one to one (same length, same order)"),
        ({"sensitive_features": [{"column": "age", "bins": [25, 120]}]},
         "column 'age' has 20 values outside its bins [25, 120) (e.g. 20): "
         "widen the first or last edge in data.sensitive_features"),
        ({"y_pred": pd.Series(["good", "maybe"] * 20, name="decision")},
         "column 'decision' has 3 distinct values ('bad', 'good', 'maybe'), but this check needs a binary outcome: "
         "map it to two classes (the favourable outcome and the rest) first"),
        ({"y_true": Y.where(Y.index != 3)},
         "column 'creditability' has 1 missing values: drop or fill those rows before the check"),
    ],
    ids=["missing-column", "wrong-dtype", "non-binary-target", "unknown-positive-label", "all-null-column",
         "empty-frame", "single-group", "different-lengths", "sensitive-length", "outside-bins",
         "non-binary-prediction", "null-label"],
)
def test_fairness_bad_input(changes: dict[str, object], message: str) -> None:
    with pytest.raises(DataError) as caught:
        fairness(**changes)
    assert str(caught.value) == message
    assert isinstance(caught.value, GovflowError) and isinstance(caught.value, ValueError)
    assert caught.value.exit_code == 2


def test_positive_label_written_as_text_names_an_integer_class() -> None:
    y = pd.Series([1, 0] * 20, name="employed")
    suite = assess_fairness(y_true=y, y_pred=y, sensitive=SENSITIVE, positive_label="1", sensitive_features=["sex"])
    assert suite.summary["overall"]["selection_rate"] == 0.5


def test_bad_sensitive_feature_spec() -> None:
    with pytest.raises(ConfigError) as caught:
        fairness(sensitive_features=[{"column": "age", "bins": [30, 20]}])
    assert str(caught.value) == ("sensitive feature {'column': 'age', 'bins': [30, 20]}: write a column name or "
                                 "{column: NAME, bins: [e0, e1, ...]} with at least two strictly increasing edges")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"y_score": pd.Series(["0.9", "0.1"] * 20, name="score")},
         "column 'score' in the scores has dtype object, expected a numeric dtype (probabilities): "
         "pass predict_proba(X)[:, 1], not the predicted labels"),
        ({"y_score": pd.Series([1.5, 0.1] * 20, name="score")},
         "column 'score' has 20 scores outside [0, 1] (e.g. 1.5): "
         "pass the predicted probability of the positive class (predict_proba(X)[:, 1])"),
        ({"y_score": [0.5] * 39}, "y_true has 40 rows but y_score has 39: pass rows aligned one to one (same length, same order)"),
        ({"y_true": Y.iloc[:0], "y_score": []}, "y_true is empty (0 rows): pass at least one row"),
        ({"positive_label": 1},
         "positive label 1 is not a value of column 'creditability' (its values: 'bad', 'good'): "
         "set data.positive_label to the favourable one"),
    ],
    ids=["wrong-dtype", "not-probabilities", "different-lengths", "empty", "unknown-positive-label"],
)
def test_performance_bad_input(changes: dict[str, object], message: str) -> None:
    kwargs: dict[str, object] = dict(y_true=Y, y_score=np.linspace(0, 1, 40), positive_label="good")
    kwargs.update(changes)
    with pytest.raises(DataError) as caught:
        assess_performance(**kwargs)  # type: ignore[arg-type]
    assert str(caught.value) == message


FRAME = pd.DataFrame({"id": range(40), "age": [20.0, 40.0] * 20, "sex": ["f", "m"] * 20})


@pytest.mark.parametrize(
    ("reference", "current", "kwargs", "message"),
    [
        (FRAME, FRAME.drop(columns="sex"), {},
         "column 'sex' is not in the current data (its columns: 'id', 'age'): "
         "fix the column name in govflow.yaml or add the column to the data"),
        (FRAME, FRAME.iloc[:0], {}, "the current data is empty (0 rows): pass at least one row"),
        (FRAME, FRAME.assign(age=None), {},
         "column 'age' in the current data has only missing values: fill it, or drop it from the config"),
        (FRAME, FRAME.assign(sex="x"), {"numerical": ["sex"]},
         "column 'sex' in the reference data has dtype object, expected a numeric dtype, as a numerical column: "
         "convert it to numbers, or list it under categorical"),
        (FRAME, FRAME, {"columns": ["id"]},
         "no feature columns to test for drift: name them with columns=[...]"),
    ],
    ids=["missing-column", "empty-frame", "all-null-column", "wrong-dtype", "no-features"],
)
def test_drift_bad_input(reference: pd.DataFrame, current: pd.DataFrame, kwargs: dict[str, object],
                         message: str) -> None:
    with pytest.raises(DataError) as caught:
        assess_drift(reference=reference, current=current, id_columns=["id"], report=False, **kwargs)  # type: ignore[arg-type]
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("frame", "kwargs", "message"),
    [
        (FRAME.iloc[:0], {}, "the training data is empty (0 rows): pass at least one row"),
        (FRAME.assign(note=None), {},
         "column 'note' in the training data has only missing values: fill it, or drop it from the config"),
        (FRAME, {"id_columns": ["applicant_id"]},
         "column 'applicant_id' is not in the training data (its columns: 'id', 'age', 'sex'): "
         "fix the column name in govflow.yaml or add the column to the data"),
        ([1, 2], {}, "the training data must be a pandas DataFrame, got list: load it with pandas first"),
    ],
    ids=["empty-frame", "all-null-column", "missing-id-column", "not-a-frame"],
)
def test_contract_inference_bad_input(frame: object, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(DataError) as caught:
        infer_contract(frame, **kwargs)  # type: ignore[arg-type]
    assert str(caught.value) == message
