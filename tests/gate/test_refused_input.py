"""Bad config and bad data are refused with exit 2 and one line naming the problem and the fix.

Each case is an attack from issue #13 ("Bad input"): it went through silently, or ended in exit 3,
before. Refusals happen before the ledger is opened, so the home never gets a ledger.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from govflow.governance.config import load_config
from govflow.governance.registry.estimators import make_estimator
from govflow.governance.strict_yaml import load_yaml

from .conftest import DATA, DEFAULT

GERMAN = DATA / "german_credit.csv"


def config_text(train: Path = GERMAN) -> str:
    return DEFAULT.read_text(encoding="utf-8").replace("train: german_credit.csv", f"train: {train}")


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """The 1-based line of the `occurrence`-th line containing `needle`."""
    found = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    return found[occurrence - 1]


def run_train(monkeypatch: Any, capsys: Any, config: Path, home: Path) -> tuple[int, str, str]:
    """`govflow --home HOME run train -c CONFIG` through the real entry point, in this process."""
    import os
    import sys

    from govflow.cli.main import main

    for name in ("GOVFLOW_HOME", "PREFECT_API_URL", "PREFECT_HOME"):  # the CLI sets these: restore them after
        if name in os.environ:
            monkeypatch.setenv(name, os.environ[name])
        else:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "argv", ["govflow", "--home", str(home), "run", "train", "-c", str(config)])
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def refused(monkeypatch: Any, capsys: Any, config: Path) -> str:
    """The one error line of a refused `run train`; the ledger was never created."""
    home = config.parent / "home"
    code, out, err = run_train(monkeypatch, capsys, config, home)
    assert code == 2, (code, out, err)
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert not (home / "ledger.db").exists()
    return lines[0]


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "govflow.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# -- duplicate keys ----------------------------------------------------------------------------

def test_duplicate_policy_section_is_refused(monkeypatch: Any, capsys: Any, tmp_path: Path) -> None:
    """The attack: a second `fairness:` under `policy:` loosened the bound while the first still showed 0.1."""
    text = config_text().replace(
        "  approvals: [model_owner, risk_officer]",
        "  approvals: [model_owner, risk_officer]\n  fairness: {equalized_odds_difference_max: 0.5}")
    path = write_config(tmp_path, text)
    first, second = line_of(text, "  fairness: {"), line_of(text, "  fairness: {", 2)
    assert refused(monkeypatch, capsys, path) == (
        f"error: {path}: duplicate key 'fairness' in policy at lines {first} and {second}: each key may appear "
        "once (YAML would silently keep the last one); merge them into one")


def test_duplicate_key_in_a_flow_mapping(monkeypatch: Any, capsys: Any, tmp_path: Path) -> None:
    text = config_text().replace("performance: {roc_auc_min: 0.7}", "performance: {roc_auc_min: 0.7, roc_auc_min: 0.5}")
    path = write_config(tmp_path, text)
    line = line_of(text, "roc_auc_min: 0.5")
    assert refused(monkeypatch, capsys, path) == (
        f"error: {path}: duplicate key 'roc_auc_min' in policy.performance at lines {line} and {line}: each key may "
        "appear once (YAML would silently keep the last one); merge them into one")


def test_duplicate_top_level_section(monkeypatch: Any, capsys: Any, tmp_path: Path) -> None:
    text = config_text() + "model: {estimator: random_forest}\n"
    path = write_config(tmp_path, text)
    first, second = line_of(text, "model:"), len(text.splitlines())
    assert refused(monkeypatch, capsys, path) == (
        f"error: {path}: duplicate key 'model' at the top level at lines {first} and {second}: each key may "
        "appear once (YAML would silently keep the last one); merge them into one")


def test_duplicate_key_in_a_sensitive_feature(monkeypatch: Any, capsys: Any, tmp_path: Path) -> None:
    text = config_text().replace("      bins: [0, 25, 120]", "      bins: [0, 25, 120]\n      column: personal_status_and_sex")
    assert text != config_text()
    path = write_config(tmp_path, text)
    first, again = line_of(text, "column: age_in_years"), line_of(text, "column: personal_status_and_sex")
    assert refused(monkeypatch, capsys, path) == (
        f"error: {path}: duplicate key 'column' in data.sensitive_features[1] at lines {first} and {again}: each key "
        "may appear once (YAML would silently keep the last one); merge them into one")


def test_keys_that_mean_the_same_value_are_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("a:\n  yes: 1\n  true: 2\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"duplicate key 'true' in a at lines 2 and 3"):
        load_yaml(path)


def test_merge_keys_still_work(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n", encoding="utf-8")
    assert load_yaml(path) == {"base": {"x": 1, "y": 2}, "other": {"x": 1, "y": 3}}


# -- estimator parameters ----------------------------------------------------------------------

@pytest.mark.parametrize(("params", "message"), [
    ("{C: abc}", "model.params.C: LogisticRegression needs a float in the range (0.0, inf], got 'abc'; "
                 "fix the value or remove it"),
    ("{bogus: 1}", "model.params.bogus: LogisticRegression has no parameter 'bogus'; its parameters: C, class_weight, "
                   "dual, fit_intercept, intercept_scaling, l1_ratio, max_iter, n_jobs, penalty, random_state, "
                   "solver, tol, verbose, warm_start"),
    ("{max_iter: 10, tol: -1}", "model.params.tol: LogisticRegression needs a float in the range [0.0, inf), got -1; "
                                "fix the value or remove it"),
    ("{Cc: 1.0}", "model.params.Cc: LogisticRegression has no parameter 'Cc'; did you mean 'C'?"),
], ids=["wrong-type", "unknown", "out-of-range", "misspelt"])
def test_estimator_params_are_checked_against_the_estimator(monkeypatch: Any, capsys: Any, tmp_path: Path,
                                                            params: str, message: str) -> None:
    path = write_config(tmp_path, config_text().replace("# params: {C: 1.0}", f"params: {params}"))
    assert refused(monkeypatch, capsys, path) == f"error: {path}: {message}"


def test_random_state_in_params_overrides_the_seed() -> None:
    """It used to be passed twice (TypeError, exit 3)."""
    estimator = make_estimator("hist_gradient_boosting", {"random_state": 7, "max_iter": 5}, seed=42)
    assert estimator.get_params()["random_state"] == 7
    assert make_estimator("random_forest", {}, seed=42).get_params()["random_state"] == 42


# -- the config file itself --------------------------------------------------------------------

def test_config_path_is_a_directory(monkeypatch: Any, capsys: Any, tmp_path: Path) -> None:
    folder = tmp_path / "govflow.yaml"
    folder.mkdir()
    code, _, err = run_train(monkeypatch, capsys, folder, tmp_path / "home")
    assert code == 2
    assert err == f"error: config file {folder} is a folder, not a file; pass -c PATH/TO/govflow.yaml\n"


def test_config_not_utf8(monkeypatch: Any, capsys: Any, tmp_path: Path) -> None:
    path = tmp_path / "govflow.yaml"
    path.write_bytes(config_text().replace("Example Bank AG", "Bänk AG").encode("latin-1"))
    line = line_of(config_text(), "Example Bank AG")
    assert refused(monkeypatch, capsys, path) == (
        f"error: {path}: not UTF-8 text (byte 0xe4 at line {line}); save the file as UTF-8")


def test_config_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = tmp_path / "govflow.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + config_text().encode("utf-8"))
    assert load_config(path).system.name == "credit-scoring"


# -- bins ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("bins", "message"), [
    ("[0, 25, 25, 120]", "data.sensitive_features[1].bins: edges must be strictly increasing "
                         "(25.0 is followed by 25.0), e.g. [0, 25, 120]"),
    ("[120, 25]", "data.sensitive_features[1].bins: edges must be strictly increasing "
                  "(120.0 is followed by 25.0), e.g. [0, 25, 120]"),
    ("[0, .nan, 120]", "data.sensitive_features[1].bins: edges must be numbers, not NaN, e.g. [0, 25, 120]"),
    ("[25]", "data.sensitive_features[1].bins: give at least two edges, e.g. [0, 25, 120]"),
], ids=["repeated", "decreasing", "nan", "one-edge"])
def test_bad_bins(monkeypatch: Any, capsys: Any, tmp_path: Path, bins: str, message: str) -> None:
    path = write_config(tmp_path, config_text().replace("bins: [0, 25, 120]", f"bins: {bins}"))
    assert refused(monkeypatch, capsys, path) == f"error: {path}: {message}"


def test_infinite_outer_edges_are_allowed(tmp_path: Path) -> None:
    unnamed = "\n".join(line for line in config_text().splitlines() if not line.lstrip().startswith("labels:"))
    path = write_config(tmp_path, unnamed.replace("bins: [0, 25, 120]", "bins: [-.inf, 25, .inf]"))
    bins = load_config(path).data.sensitive()[1].bins
    assert bins is not None and bins[1] == 25 and math.isinf(bins[0]) and math.isinf(bins[2])


def test_a_sensitive_column_listed_twice(monkeypatch: Any, capsys: Any, tmp_path: Path) -> None:
    path = write_config(tmp_path, config_text().replace("- personal_status_and_sex", "- age_in_years"))
    assert refused(monkeypatch, capsys, path) == (
        f"error: {path}: data.sensitive_features: column 'age_in_years' is listed twice (items 0 and 1); "
        "list each column once")


# -- the data -----------------------------------------------------------------------------------

def german(rows: int | None = None) -> pd.DataFrame:
    frame = pd.read_csv(GERMAN)
    return frame if rows is None else frame.head(rows)


def with_data(tmp_path: Path, frame: pd.DataFrame | None = None, *, csv_text: str | None = None) -> tuple[Path, Path]:
    data = tmp_path / "train.csv"
    if csv_text is not None:
        data.write_text(csv_text, encoding="utf-8")
    else:
        assert frame is not None
        frame.to_csv(data, index=False)
    return write_config(tmp_path, config_text(data)), data


def header() -> str:
    return GERMAN.read_text(encoding="utf-8").splitlines()[0]


def test_one_row(monkeypatch: Any, capsys: Any, tmp_path: Path) -> None:
    path, data = with_data(tmp_path, german(1))
    assert refused(monkeypatch, capsys, path) == (
        f"error: {data}: too few rows to split and train: 1 row (good: 1); training needs both outcomes of "
        "'creditability' (data.positive_label good and one other), at least 2 rows of each; add rows")


def test_too_small_to_split(monkeypatch: Any, capsys: Any, tmp_path: Path) -> None:
    frame = pd.concat([german()[lambda f: f.creditability == "good"].head(5),
                       german()[lambda f: f.creditability == "bad"].head(1)])
    path, data = with_data(tmp_path, frame)
    assert refused(monkeypatch, capsys, path) == (
        f"error: {data}: too few rows to split and train: 6 rows (good: 5, bad: 1); a stratified split with "
        "data.test_size 0.3 needs at least 2 rows of each class and 2 rows (one per class) on each side (or "
        "another data.test_size); add rows")


def test_header_only(monkeypatch: Any, capsys: Any, tmp_path: Path) -> None:
    path, data = with_data(tmp_path, csv_text=header() + "\n")
    assert refused(monkeypatch, capsys, path) == f"error: data file {data} has no rows"


def test_empty_file(monkeypatch: Any, capsys: Any, tmp_path: Path) -> None:
    path, data = with_data(tmp_path, csv_text="")
    assert refused(monkeypatch, capsys, path) == (
        f"error: cannot read {data}: No columns to parse from file; check the file's format")


def test_duplicated_header(monkeypatch: Any, capsys: Any, tmp_path: Path) -> None:
    text = GERMAN.read_text(encoding="utf-8").replace("telephone,", "credit_amount,", 1)
    path, data = with_data(tmp_path, csv_text=text)
    assert refused(monkeypatch, capsys, path) == (
        f"error: {data}: column 'credit_amount' appears 2 times in the header (columns 5 and 19); rename or "
        "drop the copies (pandas would silently call them 'credit_amount.1', ...)")


def test_duplicated_header_behind_a_byte_order_mark(monkeypatch: Any, capsys: Any, tmp_path: Path) -> None:
    text = "\ufeff" + GERMAN.read_text(encoding="utf-8").replace(
        "status_of_existing_checking_account,duration_in_month", "status_of_existing_checking_account,"
        "status_of_existing_checking_account", 1)
    path, data = with_data(tmp_path, csv_text=text)
    assert refused(monkeypatch, capsys, path).startswith(
        f"error: {data}: column 'status_of_existing_checking_account' appears 2 times in the header (columns 1 and 2)")


def test_number_too_large_for_a_float(monkeypatch: Any, capsys: Any, tmp_path: Path) -> None:
    frame = german().astype({"credit_amount": object})
    frame.loc[6, "credit_amount"] = "1e400"
    path, data = with_data(tmp_path, frame)
    assert refused(monkeypatch, capsys, path) == (
        f"error: {data}: column 'credit_amount', row 7: value '1e400' is not a number that fits a 64-bit float "
        "(the column would silently be read as text); fix the value or remove the row")


def test_infinite_number(monkeypatch: Any, capsys: Any, tmp_path: Path) -> None:
    frame = german().astype({"credit_amount": float})
    frame.loc[2, "credit_amount"] = -np.inf
    path, data = with_data(tmp_path, frame)
    assert refused(monkeypatch, capsys, path) == (
        f"error: {data}: column 'credit_amount', row 3: value -inf is not a finite number; fix the value or "
        "remove the row")


def test_single_class_target(monkeypatch: Any, capsys: Any, tmp_path: Path) -> None:
    path, data = with_data(tmp_path, german()[lambda f: f.creditability == "good"])
    assert refused(monkeypatch, capsys, path) == (
        f"error: {data}: data.target: column 'creditability' has a single class ('good'); training needs two: the "
        "favourable outcome (data.positive_label good) and the other; add rows of the other class")


def test_three_class_target(monkeypatch: Any, capsys: Any, tmp_path: Path) -> None:
    frame = german()
    frame.loc[frame.index[::5], "creditability"] = "unknown"
    path, data = with_data(tmp_path, frame)
    assert refused(monkeypatch, capsys, path) == (
        f"error: {data}: data.target: column 'creditability' has 3 classes ('bad', 'good', 'unknown'); govflow "
        "supports a binary target only (the favourable outcome, data.positive_label good, and one other): map the "
        "others to one class, or drop their rows")


def test_missing_target_values(monkeypatch: Any, capsys: Any, tmp_path: Path) -> None:
    """A row without a label used to count silently as the unfavourable outcome."""
    frame = german()
    frame.loc[[4, 9], "creditability"] = None
    path, data = with_data(tmp_path, frame)
    assert refused(monkeypatch, capsys, path) == (
        f"error: {data}: data.target: column 'creditability' has 2 missing values (first at row 5); label those "
        "rows or drop them")


def test_missing_target_column(monkeypatch: Any, capsys: Any, tmp_path: Path) -> None:
    path, _ = with_data(tmp_path, german().drop(columns="creditability"))
    assert refused(monkeypatch, capsys, path).startswith(
        "error: data.target: column 'creditability' is not in ")


def test_params_the_estimator_refuses_only_while_fitting(monkeypatch: Any, capsys: Any, tmp_path: Path) -> None:
    """l1_ratio passes scikit-learn's declared constraints; fitting then refuses the solver/penalty pair."""
    path = write_config(tmp_path, config_text().replace("# params: {C: 1.0}", "params: {l1_ratio: 0.5}"))
    code, _, err = run_train(monkeypatch, capsys, path, tmp_path / "home")
    assert (code, err.strip().splitlines()[-1]) == (2, (
        "error: model.params: LogisticRegression refused its parameters: Solver lbfgs supports only 'l2' or None "
        "penalties, got elasticnet penalty; fix model.params"))


def test_missing_numbers_for_an_estimator_that_cannot_take_them(monkeypatch: Any, capsys: Any, tmp_path: Path) -> None:
    """LogisticRegression failed deep inside the fit (exit 3, after the run was recorded)."""
    frame = german().astype({"credit_amount": float})
    frame.loc[[3, 8], "credit_amount"] = None
    path, data = with_data(tmp_path, frame)
    assert refused(monkeypatch, capsys, path) == (
        f"error: {data}: column 'credit_amount' has 2 missing values (first at row 4), and logistic_regression cannot "
        "use missing numbers: fill or drop those rows, leave the column out (data.exclude), or use model.estimator "
        "hist_gradient_boosting or random_forest, which take them")


@pytest.mark.parametrize(("yaml_text", "message"), [
    ("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n" for p, c in zip("abcdef", "bcdefg")),
     "the YAML expands to more than 100,000 values through its aliases (*name); write the values out, or use fewer "
     "aliases"),
    ("a: &a\n  b: *a\n", "an alias (*name) at line 1 refers to a structure that contains it; write the value out"),
    ("a: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply to be a config; check the brackets"),
], ids=["billion-laughs", "cycle", "deep"])
def test_yaml_that_would_not_end(tmp_path: Path, yaml_text: str, message: str) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ValueError) as caught:
        load_yaml(path)
    assert str(caught.value) == f"{path}: {message}"


def test_recommender_config_is_read_strictly(tmp_path: Path) -> None:
    from govflow.errors import ConfigError
    from govflow.flows.recommender_flow import load_recommender_config

    path = tmp_path / "govflow.yaml"
    path.write_text("kind: recommender\npolicy: {}\npolicy: {approvals: []}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_recommender_config(path)
    assert str(caught.value) == (f"{path}: duplicate key 'policy' at the top level at lines 2 and 3: each key may "
                                 "appear once (YAML would silently keep the last one); merge them into one")
