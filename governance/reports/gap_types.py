"""The gap analysis's values: requirements and frameworks (from the catalogues), each requirement's
assessment, the change since the previous report, and the report itself (`govflow.governance.reports.gap`
builds them; `govflow.governance.reports.gap_report` renders them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from govflow import canonical as canon
from govflow.governance.reports.classification import Classification
from govflow.governance.reports.gap_queries import Link, Status

SEVERITIES = ("critical", "high", "medium", "low")


@dataclass(frozen=True)
class Requirement:
    framework: str
    id: str
    citation: str
    title: str
    mandatory_high_risk: bool  #: mandatory for a high-risk system (only in a binding framework)
    severity: str  #: critical | high | medium | low
    scope: str  #: candidate | production | system
    evidence: tuple[Mapping[str, Any], ...]  #: every item must hold (see `govflow.governance.reports.gap_queries`)
    remediation: str
    applies: Mapping[str, Any] | None = None  #: when it applies (see `govflow.governance.reports.gap.APPLIES`); None: always

    @property
    def key(self) -> str:
        return f"{self.framework}/{self.id}"


@dataclass(frozen=True)
class Framework:
    name: str
    title: str
    binding: bool  #: a legal obligation (its mandatory requirements decide the exit code)
    requirements: tuple[Requirement, ...]
    content_hash: str  #: sha256 of the catalogue file, recorded with every report
    evidence_kinds: tuple[EvidenceKind, ...] = ()  #: the documents people attach (`govflow evidence attach`)


@dataclass(frozen=True)
class EvidenceKind:
    """A kind of document people write and attach, defined in a catalogue (``evidence_kinds:``)."""

    kind: str
    title: str
    framework: str
    template: tuple[Mapping[str, str], ...] = ()  #: a structured form's questions: {key, question, citation}


@dataclass(frozen=True)
class Assessment:
    """One requirement, judged against the ledger."""

    requirement: Requirement
    status: Status
    detail: str
    links: tuple[Link, ...]
    version: str | None  #: NAME:VERSION it was judged on (None for the system as a whole)
    mandatory: bool  #: mandatory here: binding framework, mandatory for high-risk, and the system is high-risk

    @property
    def failing(self) -> bool:
        return self.mandatory and self.status in (Status.MISSING, Status.STALE)

    def to_dict(self) -> dict[str, Any]:
        r = self.requirement
        return {"key": r.key, "framework": r.framework, "id": r.id, "citation": r.citation, "title": r.title,
                "severity": r.severity, "scope": r.scope, "mandatory": self.mandatory, "status": self.status.value,
                "detail": self.detail, "version": self.version, "remediation": r.remediation,
                "evidence": [{"table": x.table, "id": x.id, "note": x.note} for x in self.links]}


@dataclass(frozen=True)
class Change:
    key: str
    title: str
    before: str | None  #: the status in the previous report (None: not assessed then)
    after: str


@dataclass(frozen=True)
class Progress:
    """How this report compares with the system's previous one."""

    previous_artifact_id: str
    previous_generated_at: str
    previous_version: str | None
    previous_counts: Mapping[str, int]
    changes: tuple[Change, ...]

    @property
    def improved(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.after == Status.SATISFIED.value)

    @property
    def regressed(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.before == Status.SATISFIED.value)

    def to_dict(self) -> dict[str, Any]:
        return {"previous_artifact_id": self.previous_artifact_id, "previous_generated_at": self.previous_generated_at,
                "previous_version": self.previous_version, "previous_counts": dict(self.previous_counts),
                "changes": [c.__dict__ for c in self.changes]}


@dataclass(frozen=True)
class GapReport:
    system: str
    generated_at: datetime
    candidate: str | None  #: the version under review (NAME:VERSION)
    production: str | None
    classification: Classification
    frameworks: tuple[Framework, ...]
    assessments: tuple[Assessment, ...]
    evaluated_at_seq: int  #: the chain head the evidence was read at
    evaluated_at_hash: str
    progress: Progress | None = None
    run_id: str | None = None
    artifact_ids: Mapping[str, str] = field(default_factory=dict)  #: md / html / json -> artifacts.id

    def counts(self, framework: str | None = None) -> dict[str, int]:
        counts = {s.value: 0 for s in Status}
        for a in self.assessments:
            if framework is None or a.requirement.framework == framework:
                counts[a.status.value] += 1
        return counts

    @property
    def failing(self) -> tuple[Assessment, ...]:
        """Mandatory requirements of a high-risk system that are missing or stale."""
        return tuple(a for a in self.assessments if a.failing)

    @property
    def passed(self) -> bool:
        return not self.failing

    def status_of(self, key: str) -> Status:
        return next(a.status for a in self.assessments if a.requirement.key == key)

    def assessment(self, key: str) -> Assessment:
        return next(a for a in self.assessments if a.requirement.key == key)

    def remediation(self) -> list[Assessment]:
        """Everything missing or stale: by severity, mandatory first, then by framework and citation order."""
        order = {a.requirement.key: i for i, a in enumerate(self.assessments)}
        todo = [a for a in self.assessments if a.status in (Status.MISSING, Status.STALE)]
        return sorted(todo, key=lambda a: (SEVERITIES.index(a.requirement.severity), not a.mandatory, order[a.requirement.key]))

    def to_dict(self) -> dict[str, Any]:
        return {
            "system": self.system, "generated_at": canon.format_ts(self.generated_at), "candidate": self.candidate,
            "production": self.production, "classification": self.classification.to_dict(),
            "frameworks": [{"name": f.name, "title": f.title, "binding": f.binding, "catalogue_sha256": f.content_hash}
                           for f in self.frameworks],
            "passed": self.passed, "counts": self.counts(),
            "failing": [a.requirement.key for a in self.failing],
            "remediation": [a.requirement.key for a in self.remediation()],
            "assessments": [a.to_dict() for a in self.assessments],
            "evaluated_at": {"seq": self.evaluated_at_seq, "entry_hash": self.evaluated_at_hash},
            "progress": self.progress.to_dict() if self.progress else None,
            "run_id": self.run_id,
            "disclaimer": "Generated by govflow from its ledger's records; it cites public texts and is not legal advice.",
        }
