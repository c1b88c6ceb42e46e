"""The typed results every check returns: what the ledger records and what gates and documents read.

A `CheckResult` is one judgement (one rule applied to one subject); a `SuiteResult` groups the
results of one check run, with JSON-safe summary figures and row tables (e.g. fairness by group)
that documents render, and attachments (e.g. the drift HTML report) that the caller stores as
artifacts. Everything but the attachments is in `to_dict()`, which is JSON-safe and round-trips
through `from_dict()`.

``passed`` is three-valued: ``True`` passed, ``False`` failed, ``None`` not judged (e.g. a group
too small to judge). ``severity`` is what a failure of that rule means: a suite fails only when a
``critical`` result failed; ``warning`` failures are findings for the documents.

Examples
--------
>>> r = CheckResult(kind=CheckKind.PERFORMANCE, name="roc_auc", subject="overall",
...                 observed=0.82, threshold=0.7, passed=True, severity=Severity.CRITICAL)
>>> SuiteResult(kind=CheckKind.PERFORMANCE, results=(r,)).passed
True
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from govflow.canonical import JSONValue, json_safe


class CheckKind(enum.StrEnum):
    """Which check produced a result (the ledger's `check_results.check`)."""

    VALIDATION = "validation"
    FAIRNESS = "fairness"
    DRIFT = "drift"
    PERFORMANCE = "performance"


class Severity(enum.StrEnum):
    """What a failure of the rule means: only a failed ``critical`` result fails its suite."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


def _scalar(value: Any, what: str) -> float | str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise TypeError(f"{what} must be a number, a string or None, not a bool")
    safe = json_safe(value)
    if safe is None or isinstance(safe, int | float):
        return None if safe is None else float(safe)
    raise TypeError(f"{what} must be a number, a string or None, not {type(value).__name__}")


@dataclass(frozen=True)
class CheckResult:
    """One rule applied to one subject.

    Values are made JSON-safe on construction (numpy numbers become floats, NaN becomes None).
    """

    kind: CheckKind  #: which check (validation, fairness, drift, performance)
    name: str  #: the rule, e.g. "demographic_parity_difference", "expect_column_values_to_not_be_null"
    subject: str  #: what it was applied to: a column, a group ("sex=female"), a metric, "table"
    observed: float | str | None  #: the measured value; None when it could not be measured
    threshold: float | str | None  #: the bound it was compared with; None when there is none
    passed: bool | None  #: True passed, False failed, None not judged (e.g. group too small)
    severity: Severity  #: what a failure means; only critical failures fail the suite
    details: dict[str, Any] = field(default_factory=dict, hash=False)  #: JSON-safe extra facts

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", CheckKind(self.kind))
        object.__setattr__(self, "severity", Severity(self.severity))
        object.__setattr__(self, "observed", _scalar(self.observed, "observed"))
        object.__setattr__(self, "threshold", _scalar(self.threshold, "threshold"))
        if self.passed is not None:
            object.__setattr__(self, "passed", bool(self.passed))
        object.__setattr__(self, "details", json_safe(dict(self.details)))

    @property
    def failed(self) -> bool:
        """True when the rule was judged and failed (not when it was not judged)."""
        return self.passed is False

    def to_dict(self) -> dict[str, JSONValue]:
        """JSON-safe dict with the field names as keys and enums as their string values."""
        return {
            "kind": self.kind.value, "name": self.name, "subject": self.subject,
            "observed": self.observed, "threshold": self.threshold, "passed": self.passed,
            "severity": self.severity.value, "details": self.details,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckResult:
        """Inverse of `to_dict`."""
        return cls(
            kind=CheckKind(data["kind"]), name=data["name"], subject=data["subject"],
            observed=data.get("observed"), threshold=data.get("threshold"), passed=data.get("passed"),
            severity=Severity(data["severity"]), details=dict(data.get("details") or {}),
        )


@dataclass(frozen=True)
class Attachment:
    """A payload kept out of `to_dict()` for the caller to store as an artifact (e.g. an HTML report)."""

    kind: str  #: artifact kind, e.g. "report"
    name: str  #: a file name for it, e.g. "drift_report.html"
    media_type: str  #: e.g. "text/html"
    content: bytes = field(repr=False)  #: the bytes to store


@dataclass(frozen=True)
class SuiteResult:
    """The results of one check run, with its summary figures, tables and attachments."""

    kind: CheckKind  #: which check
    results: tuple[CheckResult, ...]  #: every judgement, in a stable order
    summary: dict[str, Any] = field(default_factory=dict, hash=False)  #: JSON-safe headline figures
    tables: dict[str, tuple[dict[str, Any], ...]] = field(default_factory=dict, hash=False)
    """JSON-safe row tables for documents, e.g. ``tables["by_group"]`` (rows are dicts)."""
    attachments: tuple[Attachment, ...] = field(default=(), compare=False)  #: not in to_dict()

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", CheckKind(self.kind))
        object.__setattr__(self, "results", tuple(self.results))
        object.__setattr__(self, "summary", json_safe(dict(self.summary)))
        tables = {name: tuple(json_safe(dict(row)) for row in rows) for name, rows in self.tables.items()}
        object.__setattr__(self, "tables", tables)
        object.__setattr__(self, "attachments", tuple(self.attachments))

    @property
    def passed(self) -> bool:
        """False when any critical result failed, else True."""
        return not any(r.failed and r.severity is Severity.CRITICAL for r in self.results)

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        """Every failed result, critical or not."""
        return tuple(r for r in self.results if r.failed)

    @property
    def blocking(self) -> tuple[CheckResult, ...]:
        """The failed critical results: the reasons the suite did not pass."""
        return tuple(r for r in self.failures if r.severity is Severity.CRITICAL)

    @property
    def findings(self) -> tuple[CheckResult, ...]:
        """What documents must mention: failures, and warnings that were not judged."""
        return tuple(r for r in self.results
                     if r.failed or (r.passed is None and r.severity is not Severity.INFO))

    @property
    def not_judged(self) -> tuple[CheckResult, ...]:
        """Results with ``passed=None``."""
        return tuple(r for r in self.results if r.passed is None)

    def attachment(self, kind: str) -> Attachment | None:
        """The first attachment of that kind, if any."""
        return next((a for a in self.attachments if a.kind == kind), None)

    def counts(self) -> dict[str, int]:
        """How many results passed, failed, were not judged, and failed critically."""
        return {
            "total": len(self.results), "passed": sum(r.passed is True for r in self.results),
            "failed": len(self.failures), "not_judged": len(self.not_judged), "blocking": len(self.blocking),
        }

    def to_dict(self) -> dict[str, JSONValue]:
        """JSON-safe dict: kind, passed, counts, results, summary and tables (not the attachments)."""
        return {
            "kind": self.kind.value, "passed": self.passed, "counts": dict(self.counts()),
            "results": [r.to_dict() for r in self.results], "summary": self.summary,
            "tables": {name: list(rows) for name, rows in self.tables.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SuiteResult:
        """Inverse of `to_dict` (attachments are not part of it)."""
        return cls(
            kind=CheckKind(data["kind"]), results=tuple(CheckResult.from_dict(r) for r in data["results"]),
            summary=dict(data.get("summary") or {}),
            tables={k: tuple(v) for k, v in (data.get("tables") or {}).items()},
        )

