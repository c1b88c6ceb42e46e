"""Data validation: a frame checked against a data contract with Great Expectations 1.x.

The contract (`govflow.checks.contract`) becomes a GX expectation suite, run in an ephemeral GX context
(no files, no network, progress bars off) over the frame. Column types are checked with pandas
instead, because GX 1.24 compares a pandas column's dtype with ``==`` against the names it is given,
and a categorical column then matches none. Every rule gives one `CheckResult`, critical: the
contract is what the model was trained on, so data outside it is not data the model was tested on.

A column of the wrong type gets only its ``column_type`` failure: its value rules would only echo it.
An empty frame is not an error here: it fails the contract's row-count rule, which is the finding
a monitoring window with no data should record.

Examples
--------
>>> train = pd.DataFrame({"age": [20, 40, 60], "sex": ["f", "m", "f"]})
>>> later = pd.DataFrame({"age": [30, 99], "sex": ["m", "x"]})
>>> suite = validate(later, infer_contract(train))
>>> suite.passed, [(r.name, r.subject) for r in suite.failures]
(False, [('expect_column_values_to_be_between', 'age'), ('expect_column_values_to_be_in_set', 'sex')])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from govflow.canonical import json_safe
from govflow.checks.contract import Contract, expectations, fits, great_expectations, infer_contract
from govflow.checks.inputs import NOT_A_FRAME
from govflow.checks.policy import Policy
from govflow.checks.results import CheckKind, CheckResult, Severity, SuiteResult
from govflow.errors import DataError

EXAMPLES = 5  # unexpected values quoted per failed rule
__all__ = ["Contract", "infer_contract", "validate"]


def _context() -> Any:
    """An ephemeral GX context with its progress bars off, and a batch definition for a frame."""
    gx = great_expectations()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas(name="govflow").add_dataframe_asset(name="frame")
    return context, asset.add_batch_definition_whole_dataframe(name="whole_frame")


def _examples(result: Mapping[str, Any]) -> list[Any]:
    seen: list[Any] = []
    for value in result.get("partial_unexpected_list") or []:
        value = json_safe(value) if not isinstance(value, str | int | float | bool) else value
        if value not in seen:
            seen.append(value)
    return seen[:EXAMPLES]


def _share(result: Mapping[str, Any]) -> float | None:
    count, total = result.get("unexpected_count"), result.get("element_count")
    if count is None or not total:
        return None if count is None else 0.0
    return count / total


def _exception(info: Any) -> str | None:
    """The message of an exception GX caught while evaluating an expectation, if any.

    GX gives either ``{"raised_exception": ..., "exception_message": ...}`` or such dicts keyed by metric.
    """
    if not isinstance(info, Mapping):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    nested = (_exception(v) for v in info.values() if isinstance(v, Mapping))
    return next((m for m in nested if m), None)


def _to_result(outcome: Any, contract: Contract, allowed_share: float) -> CheckResult:
    """One GX expectation result as a govflow result."""
    config = outcome.expectation_config
    kind, kwargs, result = config.type, config.kwargs, dict(outcome.result or {})
    column = (config.meta or {}).get("column")
    spec = contract.columns.get(column) if column else None
    details: dict[str, Any] = {"expectation": kind}
    observed: float | str | None = None
    threshold: float | str | None = None
    if kind == "expect_table_row_count_to_be_between":
        observed = result.get("observed_value")
        high = kwargs.get("max_value")
        threshold = f"{kwargs.get('min_value')}..{'' if high is None else high}"
    elif kind == "expect_table_columns_to_match_set":
        details["mismatched"] = json_safe(result.get("details", {}).get("mismatched"))
    elif kind == "expect_column_to_exist":
        observed = "present" if outcome.success else "absent"
    else:
        observed = _share(result)
        threshold = spec.max_null_rate if kind == "expect_column_values_to_not_be_null" and spec else (
            0.0 if kind == "expect_column_values_to_be_unique" else allowed_share)
        details.update(unexpected_count=result.get("unexpected_count"), rows=result.get("element_count"),
                       examples=_examples(result))
        if kind == "expect_column_values_to_be_between" and spec:
            details.update(min=spec.min, max=spec.max)
        if kind == "expect_column_values_to_be_in_set" and spec:
            details["allowed"] = spec.allowed
    error = _exception(outcome.exception_info)
    if error:
        details["error"] = error
    return CheckResult(kind=CheckKind.VALIDATION, name=kind, subject=column or "table", observed=observed,
                       threshold=threshold, passed=bool(outcome.success), severity=Severity.CRITICAL,
                       details=details)


def _type_results(frame: pd.DataFrame, contract: Contract) -> list[CheckResult]:
    found = []
    for column, spec in contract.columns.items():
        if column not in frame.columns:
            continue
        ok, actual = fits(frame[column], spec.type)
        found.append(CheckResult(
            kind=CheckKind.VALIDATION, name="column_type", subject=column, observed=actual, threshold=spec.type,
            passed=ok, severity=Severity.CRITICAL, details={"dtype": str(frame[column].dtype)},
        ))
    return found


def validate(frame: pd.DataFrame, contract: Contract | Mapping[str, Any], *,
             policy: Policy | None = None) -> SuiteResult:
    """Validate `frame` against a data contract.

    Parameters
    ----------
    frame : DataFrame
        The data to check (extra columns are allowed unless the contract forbids them).
    contract : Contract or mapping
        A `Contract`, or its dict form (as in govflow.yaml, or `Contract.to_dict()` from the ledger).
    policy : Policy, optional
        ``policy.validation.unexpected_share_max``: share of values allowed outside a range or set.

    Returns
    -------
    SuiteResult
        ``results`` (all critical): ``expect_table_row_count_to_be_between`` (subject ``"table"``,
        observed the row count), ``expect_column_to_exist`` per column, ``column_type``
        (observed the column's logical type, threshold the contract's), and per present column
        ``expect_column_values_to_not_be_null`` / ``_to_be_between`` / ``_to_be_in_set`` /
        ``_to_be_unique`` as the contract asks, observed the share of unexpected rows, with
        ``details`` ``{unexpected_count, rows, examples}``. ``summary``: rows, contract hash and
        version, policy hash, GX statistics.
    """
    policy = policy or Policy()
    if not isinstance(frame, pd.DataFrame):
        raise DataError(NOT_A_FRAME.format(what="the data to validate", type=type(frame).__name__))
    if not isinstance(contract, Contract):
        contract = Contract.from_dict(contract)
    gx = great_expectations()
    allowed_share = policy.validation.unexpected_share_max
    types = _type_results(frame, contract)
    typed = [r.subject for r in types if r.passed]  # value rules on a mistyped column would only echo it
    context, batch = _context()
    # Built whole, then added once: adding expectations to a stored suite re-serialises it each time.
    suite = context.suites.add(gx.ExpectationSuite(
        name=f"govflow-contract-{contract.hash()[:12]}",
        expectations=expectations(contract, mostly=1 - allowed_share, present=typed)))
    definition = context.validation_definitions.add(gx.ValidationDefinition(name="contract", data=batch,
                                                                            suite=suite))
    run = definition.run(batch_parameters={"dataframe": frame},
                         result_format={"result_format": "SUMMARY", "partial_unexpected_count": 20})
    gx_results = [_to_result(r, contract, allowed_share) for r in run.results]
    order = {name: i for i, name in enumerate(contract.columns)}
    results = sorted(gx_results + types,
                     key=lambda r: (r.subject != "table", order.get(r.subject, -1), _RULE_ORDER.get(r.name, 99)))
    summary = {"rows": len(frame), "contract_hash": contract.hash(), "contract_version": contract.version,
               "policy_hash": policy.hash(), "gx_statistics": json_safe(dict(run.statistics))}
    return SuiteResult(kind=CheckKind.VALIDATION, results=tuple(results), summary=summary)


_RULE_ORDER = {name: i for i, name in enumerate((
    "expect_table_row_count_to_be_between", "expect_table_columns_to_match_set", "expect_column_to_exist",
    "column_type", "expect_column_values_to_not_be_null", "expect_column_values_to_be_between",
    "expect_column_values_to_be_in_set", "expect_column_values_to_be_unique"))}
