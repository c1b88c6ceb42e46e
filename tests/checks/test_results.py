"""The result types: JSON-safe on construction, three-valued `passed`, suites fail only on critical."""

from __future__ import annotations

import json

import numpy as np
import pytest

from govflow.checks.results import Attachment, CheckKind, CheckResult, Severity, SuiteResult


def result(passed: bool | None, severity: Severity = Severity.CRITICAL, **kw: object) -> CheckResult:
    fields: dict[str, object] = dict(kind=CheckKind.FAIRNESS, name="demographic_parity_difference",
                                     subject="sex", observed=0.05, threshold=0.1, passed=passed, severity=severity)
    fields.update(kw)
    return CheckResult(**fields)  # type: ignore[arg-type]


def test_numpy_values_become_plain_json() -> None:
    r = result(np.bool_(True), observed=np.float64(0.25), threshold=np.int64(3),  # type: ignore[arg-type]
               details={"ci": np.array([0.1, np.nan]), "n": np.int32(7), "groups": ("a", "b")})
    assert r.to_dict() == {
        "kind": "fairness", "name": "demographic_parity_difference", "subject": "sex", "observed": 0.25,
        "threshold": 3.0, "passed": True, "severity": "critical",
        "details": {"ci": [0.1, None], "n": 7, "groups": ["a", "b"]},
    }
    assert type(r.observed) is float and type(r.passed) is bool
    json.dumps(r.to_dict(), allow_nan=False)


def test_nan_observed_is_no_value() -> None:
    assert result(None, observed=float("nan")).observed is None


def test_strings_from_plain_values() -> None:
    r = CheckResult(kind="validation", name="column_type", subject="age", observed="float", threshold="integer",  # type: ignore[arg-type]
                    passed=False, severity="critical")  # type: ignore[arg-type]
    assert (r.kind, r.severity, r.observed) == (CheckKind.VALIDATION, Severity.CRITICAL, "float")


def test_round_trip() -> None:
    r = result(False, details={"excluded_groups": ["x"]})
    assert CheckResult.from_dict(json.loads(json.dumps(r.to_dict()))) == r


def test_frozen() -> None:
    with pytest.raises(AttributeError):
        result(True).passed = False  # type: ignore[misc]


def test_bool_observed_refused() -> None:
    with pytest.raises(TypeError, match="observed must be a number, a string or None, not a bool"):
        result(True, observed=True)


@pytest.mark.parametrize(
    ("results", "passed"),
    [
        ((), True),
        ((result(True), result(None)), True),
        ((result(False, Severity.WARNING), result(None, Severity.CRITICAL)), True),
        ((result(True), result(False)), False),
    ],
)
def test_suite_fails_only_on_a_critical_failure(results: tuple[CheckResult, ...], passed: bool) -> None:
    assert SuiteResult(kind=CheckKind.FAIRNESS, results=results).passed is passed


def test_suite_views_and_dict() -> None:
    warn, block, unjudged = result(False, Severity.WARNING), result(False), result(None, Severity.WARNING)
    suite = SuiteResult(kind=CheckKind.FAIRNESS, results=(result(True), warn, block, unjudged),
                        summary={"rows": np.int64(5)}, tables={"by_group": ({"rate": np.float32(0.5)},)},
                        attachments=(Attachment("report", "r.html", "text/html", b"<html>"),))
    assert suite.failures == (warn, block)
    assert suite.blocking == (block,)
    assert suite.findings == (warn, block, unjudged)
    assert suite.counts() == {"total": 4, "passed": 1, "failed": 2, "not_judged": 1, "blocking": 1}
    data = suite.to_dict()
    assert data["passed"] is False and data["summary"] == {"rows": 5} and data["tables"] == {"by_group": [{"rate": 0.5}]}
    assert "attachments" not in json.dumps(data)
    assert suite.attachment("report") is not None and suite.attachment("report").content == b"<html>"  # type: ignore[union-attr]
    back = SuiteResult.from_dict(json.loads(json.dumps(data)))
    assert back.results == suite.results and back.tables == suite.tables and back.attachments == ()
