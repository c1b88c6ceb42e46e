"""Data validation with Great Expectations against an inferred or written contract, on real data."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from govflow.checks.contract import Contract, infer_contract
from govflow.checks.policy import Policy
from govflow.checks.results import CheckKind, Severity
from govflow.checks.validation import validate
from govflow.errors import ConfigError

from .conftest import ACS_FEATURES, sample


@pytest.fixture(scope="module")
def german_split(german: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    train = german.sample(frac=0.7, random_state=0)
    return train.reset_index(drop=True), german.drop(train.index).reset_index(drop=True)


def failed(suite) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(r.name, r.subject) for r in suite.failures]


def test_inferred_contract_of_german_credit(german_split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, _ = german_split
    contract = infer_contract(train)
    age, amount, purpose = (contract.columns[c] for c in ("age_in_years", "credit_amount", "purpose"))
    assert (age.type, age.min, age.max, age.max_null_rate, age.unique) == ("integer", 13, 81, 0.0, False)
    assert (amount.min, amount.max) == (0, 20242)  # widened by 10 % of the range, not below 0
    assert purpose.type == "string" and purpose.allowed is not None and len(purpose.allowed) == 10
    assert list(contract.columns) == list(train.columns)


def test_held_out_german_data_breaks_the_contract_once(german_split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    # A real finding: the held-out 30 % has one 72-month loan; training saw at most 60 (+10 % slack: 66).
    train, test = german_split
    suite = validate(test, infer_contract(train))
    assert failed(suite) == [("expect_column_values_to_be_between", "duration_in_month")]
    result = suite.failures[0]
    assert result.details == {"expectation": "expect_column_values_to_be_between", "unexpected_count": 1,
                              "rows": 300, "examples": [72], "min": 0, "max": 66}
    assert (result.observed, result.threshold, result.severity) == (pytest.approx(1 / 300), 0.0, Severity.CRITICAL)
    tolerant = validate(test, infer_contract(train), policy=Policy.from_mapping(
        {"validation": {"unexpected_share_max": 0.01}}))
    assert tolerant.passed is True


def test_acs_later_years_fit_the_2015_contract(acs_2015: pd.DataFrame, acs_later: pd.DataFrame) -> None:
    contract = infer_contract(acs_2015[["id", *ACS_FEATURES]], id_columns=["id"])
    suite = validate(sample(acs_later, 50_000), contract)
    assert suite.passed is True and suite.failures == ()
    assert suite.summary["contract_hash"] == contract.hash() and suite.summary["rows"] == 50_000
    assert contract.columns["SCHL"].type == "category" and len(contract.columns["SCHL"].allowed or []) == 25
    assert contract.columns["id"].unique is True and contract.columns["id"].min is None


def test_injected_problems_are_each_found(german_split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, test = german_split
    contract = infer_contract(train.assign(applicant=range(len(train))), id_columns=["applicant"])
    bad = test.assign(applicant=range(len(test))).copy()
    bad.loc[:4, "credit_amount"] = np.nan
    bad.loc[10:12, "purpose"] = "crypto"
    bad.loc[20, "applicant"] = 21
    bad["age_in_years"] = bad["age_in_years"].astype(str)  # its value rules are then skipped
    bad = bad.drop(columns=["telephone"])
    suite = validate(bad, contract)
    assert set(failed(suite)) == {
        ("expect_column_values_to_be_between", "duration_in_month"),  # the real one, as above
        ("expect_column_to_exist", "telephone"),
        ("column_type", "age_in_years"),
        ("column_type", "credit_amount"),  # nulls turned the int column into floats with NaN: still integral
        ("expect_column_values_to_not_be_null", "credit_amount"),
        ("expect_column_values_to_be_in_set", "purpose"),
        ("expect_column_values_to_be_unique", "applicant"),
    } - {("column_type", "credit_amount")}
    by = {(r.name, r.subject): r for r in suite.results}
    nulls = by[("expect_column_values_to_not_be_null", "credit_amount")]
    assert (nulls.observed, nulls.threshold, nulls.details["unexpected_count"]) == (5 / 300, 0.0, 5)
    purpose = by[("expect_column_values_to_be_in_set", "purpose")]
    assert (purpose.details["unexpected_count"], purpose.details["examples"]) == (3, ["crypto"])
    assert by[("column_type", "age_in_years")].to_dict() == {
        "kind": "validation", "name": "column_type", "subject": "age_in_years", "observed": "string",
        "threshold": "integer", "passed": False, "severity": "critical", "details": {"dtype": "object"}}
    assert by[("expect_column_to_exist", "telephone")].observed == "absent"
    assert by[("expect_column_values_to_be_unique", "applicant")].details["unexpected_count"] == 2
    assert all(r.kind is CheckKind.VALIDATION for r in suite.results)
    json.dumps(suite.to_dict(), allow_nan=False)


def test_empty_frame_fails_the_row_count(german_split: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, test = german_split
    suite = validate(test.iloc[:0], infer_contract(train))
    row_count = suite.results[0]
    assert (row_count.name, row_count.subject, row_count.observed, row_count.threshold, row_count.passed) == (
        "expect_table_row_count_to_be_between", "table", 0.0, "1..", False)
    assert suite.passed is False


WRITTEN: dict[str, Any] = {
    "columns": {
        "age_in_years": {"type": "integer", "min": 18, "max": 100},
        "personal_status_and_sex": {"type": "string", "allowed": [
            "female : divorced/separated/married", "male : divorced/separated", "male : married/widowed",
            "male : single"]},
        "credit_amount": {"type": "float", "min": 0},
    },
    "row_count_min": 100,
    "extra_columns": "forbid",
}


def test_written_contract_as_in_govflow_yaml(german: pd.DataFrame) -> None:
    contract = Contract.from_dict(WRITTEN)
    suite = validate(german, WRITTEN)
    assert failed(suite) == [("expect_table_columns_to_match_set", "table")]  # 18 other columns, forbidden
    assert len(suite.failures[0].details["mismatched"]["unexpected"]) == 18
    assert validate(german[list(WRITTEN["columns"])], contract).passed is True  # ints satisfy "float"
    suite_gx = contract.to_expectation_suite()
    assert [e.expectation_type for e in suite_gx.expectations][:3] == [
        "expect_table_row_count_to_be_between", "expect_table_columns_to_match_set", "expect_column_to_exist"]
    assert len(suite_gx.expectations) == 2 + 3 * 2 + 3  # table rules; exist + not null per column; 3 value rules


def test_contract_round_trip_and_hash(german: pd.DataFrame) -> None:
    contract = infer_contract(german)
    data = json.loads(json.dumps(contract.to_dict()))
    assert data["version"] == 1 and data["hash"] == contract.hash()
    assert Contract.from_dict(data) == contract
    assert Contract.from_dict(WRITTEN).hash() == Contract.from_dict({**WRITTEN, "row_count_max": None}).hash()
    data["columns"]["age_in_years"]["max"] = 200
    with pytest.raises(ConfigError) as caught:
        Contract.from_dict(data, path="model.contract")
    assert str(caught.value) == (
        f"model.contract: the contract's hash {contract.hash()} does not match its content "
        f"({Contract.from_dict({k: v for k, v in data.items() if k != 'hash'}).hash()}): it was changed after it "
        "was recorded; restore it, or remove its hash to record a new contract")


@pytest.mark.parametrize(
    ("contract", "message"),
    [
        ({"columns": {"age": {"type": "integer", "maxx": 3}}},
         "data.contract.columns.age.maxx: unknown key; did you mean max?"),
        ({"columns": {"age": {"type": "int"}}},
         "data.contract.columns.age.type: Input should be 'integer', 'float', 'boolean', 'string', 'category' or "
         "'datetime' (got 'int')"),
        ({"column": {}}, "data.contract.columns: Field required (got {'column': {}}); "
                         "data.contract.column: unknown key; did you mean columns?"),
    ],
)
def test_bad_written_contract(contract: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Contract.from_dict(contract)
    assert str(caught.value) == message
