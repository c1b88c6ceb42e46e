"""The facts a generated document cites, each with the ledger record it came from: the shape of `Evidence`.

`govflow.governance.reports.evidence.gather` reads them from the ledger; the documents render them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from govflow.governance.registry.policies import AppliedPolicy
from govflow.governance.reports.data_statistics import ColumnStatistics

DEFAULT_REQUIRED_ROLES = ("model_owner", "risk_officer")
UNKNOWN_VERSION = "no model version with id '{id}' in the ledger; resolve NAME:VERSION with `govflow.governance.registry.versions.resolve`"
PHASE_TRAINING, PHASE_GATE, PHASE_EARLIER_GATE = "training", "gate", "earlier-gate"
DATASET_ROLES = ("source", "train", "held-out", "input")
# The copies of the splits the training flow stores with a version, by data set role.
STORED_COPY_KINDS = {"held-out": "holdout_data", "train": "reference_data"}
# A JSON artifact holding the fairness check's by-group table (count, selection rate, TPR, FPR, intervals),
# as a list of rows, {"by_group": rows}, or a whole `SuiteResult.to_dict()`; linked to the version.
GROUP_TABLE_KIND = "fairness_by_group"


@dataclass(frozen=True)
class Ref:
    """The ledger record a fact comes from: a table and a row id (or a content fingerprint)."""

    table: str
    key: str

    def __str__(self) -> str:
        return f"{self.table}/{self.key}"


@dataclass(frozen=True)
class ChainHead:
    seq: int  #: sequence number of the latest audit entry when the evidence was read
    entry_hash: str  #: its entry hash (hex): what `govflow verify --head` checks later


@dataclass(frozen=True)
class VersionFacts:
    id: str
    system: str
    version: int
    fingerprint: str  #: fingerprint of the serialized model (fp2; fp1 in older ledgers)
    artifact_hash: str  #: sha256 of the stored model bytes
    artifact_uri: str
    training_run_id: str | None
    hyperparams: Mapping[str, Any]
    config_hash: str  #: sha256 of the canonical config snapshot
    created_at: datetime

    @property
    def label(self) -> str:
        return f"{self.system}:{self.version}"


@dataclass(frozen=True)
class TaskFacts:
    id: str
    name: str
    state: str | None  #: latest recorded state (running | completed | failed)
    started_at: datetime
    ended_at: datetime | None
    error: str | None  #: "ErrorType: message" of a failed task


@dataclass(frozen=True)
class RunFacts:
    """A flow run (training or gate) and the tasks recorded under it."""

    id: str
    name: str
    code_ref: str | None  #: git commit (or package version) the code came from
    source_hash: str | None
    env: Mapping[str, str]  #: package versions
    params: Mapping[str, Any]
    config_hash: str | None
    started_at: datetime
    ended_at: datetime | None
    state: str | None
    tasks: tuple[TaskFacts, ...] = ()


@dataclass(frozen=True)
class CheckFact:
    """One `check_results` row, decoded."""

    id: str
    run_id: str
    task: str  #: name of the run that recorded it
    phase: str  #: training | gate | earlier-gate | the root flow's name (e.g. monitor)
    kind: str  #: validation | performance | fairness | drift
    name: str
    subject: str
    passed: bool | None  #: None: not judged (e.g. a group too small to judge)
    observed: Any
    threshold: Any
    severity: str
    details: Mapping[str, Any]
    inputs: tuple[str, ...] = ()  #: fingerprints of the data sets the recording run read


@dataclass(frozen=True)
class DatasetUse:
    run_id: str
    task: str
    phase: str


@dataclass(frozen=True)
class DatasetFacts:
    id: str
    role: str  #: source | train | held-out | input (see `DATASET_ROLES`)
    name: str
    fingerprint: str
    schema: tuple[tuple[str, str], ...] | None  #: (column, dtype) in name order
    row_count: int | None
    uri: str | None
    origin: str | None  #: the provenance declared in the config (``data.origin``)
    created_at: datetime
    produced_by: DatasetUse | None  #: the run that first wrote it
    derived_from: str | None  #: fingerprint of the data set it was made from
    used_by: tuple[DatasetUse, ...] = ()
    validation: tuple[CheckFact, ...] = ()  #: validation results of runs that read it
    stored_copy: ArtifactFacts | None = None  #: the copy stored with the version (see `STORED_COPY_KINDS`)
    statistics: tuple[ColumnStatistics, ...] | None = None  #: per column, from the stored data (None: none stored)
    statistics_from: str = ""  #: which stored data they were computed from, for people
    group_counts: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] = ()  #: rows per sensitive group


@dataclass(frozen=True)
class DecisionFacts:
    id: str
    outcome: str  #: pass | block
    reasons: tuple[str, ...]
    policy_hash: str
    decided_at: datetime
    run_id: str | None


@dataclass(frozen=True)
class ApprovalFacts:
    id: str
    role: str
    approver: str  #: the name given with --as
    os_user: str
    decision: str  #: approve | reject
    rationale: str
    evidence_hash: str
    decided_at: datetime


@dataclass(frozen=True)
class StageFacts:
    id: str
    stage: str
    at: datetime
    by: str
    reason: str


@dataclass(frozen=True)
class ArtifactFacts:
    id: str
    kind: str
    name: str
    content_hash: str
    media_type: str
    created_at: datetime


@dataclass(frozen=True)
class SiblingVersion:
    """Another (or this) version of the same system, for the lifecycle history."""

    id: str
    version: int
    fingerprint: str
    config_hash: str
    created_at: datetime
    stage: str | None


@dataclass(frozen=True)
class Evidence:
    """Everything the documents of one model version are rendered from."""

    version: VersionFacts
    config: Mapping[str, Any]  #: the config snapshot stored with the version
    training_run: RunFacts | None
    gate_run: RunFacts | None
    datasets: tuple[DatasetFacts, ...]
    checks: tuple[CheckFact, ...]
    decisions: tuple[DecisionFacts, ...]  #: oldest first; the last one is in force
    approvals: tuple[ApprovalFacts, ...]  #: oldest first
    stages: tuple[StageFacts, ...]  #: oldest first
    required_roles: tuple[str, ...]
    artifacts: tuple[ArtifactFacts, ...]
    versions: tuple[SiblingVersion, ...]  #: every version of the system, oldest first
    chain_head: ChainHead
    ledger_id: str
    generated_at: datetime
    policy_in_force: Mapping[str, Any] = field(default_factory=dict)  #: the policy with its defaults filled in
    policy_hash: str | None = None  #: its hash, as a gate decision records it (None: the policy is invalid)
    #: the policy the decision in force applied, as recorded with it (else the config snapshot's is in force)
    applied_policy: AppliedPolicy | None = None
    previous_policy: AppliedPolicy | None = None  #: that of the system's gate decision before it
    group_table: tuple[Mapping[str, Any], ...] = ()  #: fairness metrics by group, from `group_table_ref`
    group_table_ref: ArtifactFacts | None = None

    @property
    def decision(self) -> DecisionFacts | None:
        return self.decisions[-1] if self.decisions else None

    @property
    def stage(self) -> str | None:
        return self.stages[-1].stage if self.stages else None

    @property
    def policy(self) -> Mapping[str, Any]:
        return self.config.get("policy") or {}

    def section(self, name: str) -> Mapping[str, Any]:
        """A section of the config snapshot (``system``, ``data``, ...), empty when absent."""
        value = self.config.get(name)
        return value if isinstance(value, Mapping) else {}

    def checks_of(self, phase: str, kind: str | None = None) -> tuple[CheckFact, ...]:
        return tuple(c for c in self.checks if c.phase == phase and (kind is None or c.kind == kind))

    def _by_kind(self, phase: str) -> dict[str, tuple[CheckFact, ...]]:
        kinds = dict.fromkeys(c.kind for c in self.checks if c.phase == phase)
        return {kind: self.checks_of(phase, kind) for kind in kinds}

    @property
    def training_checks(self) -> dict[str, tuple[CheckFact, ...]]:
        return self._by_kind(PHASE_TRAINING)

    @property
    def gate_checks(self) -> dict[str, tuple[CheckFact, ...]]:
        return self._by_kind(PHASE_GATE)

    @property
    def monitoring_checks(self) -> tuple[CheckFact, ...]:
        return tuple(c for c in self.checks if c.phase not in (PHASE_TRAINING, PHASE_GATE, PHASE_EARLIER_GATE))

    @property
    def approvals_in_force(self) -> dict[str, ApprovalFacts]:
        """The latest approval or rejection per role."""
        return {a.role: a for a in self.approvals}

    @property
    def missing_roles(self) -> tuple[str, ...]:
        """Required roles without an approval in force (none given, or rejected)."""
        latest = self.approvals_in_force
        return tuple(r for r in self.required_roles if r not in latest or latest[r].decision != "approve")

    def dataset(self, role: str) -> DatasetFacts | None:
        return next((d for d in self.datasets if d.role == role), None)
