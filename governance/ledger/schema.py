"""The ledger's tables, as SQLAlchemy 2.0 typed models.

Modelled on Marquez (runs, run state history, dataset versions, edges) plus what compliance needs
(model versions and their stages, check results, decisions, approvals, predictions, incidents).
Every table but ``prediction_payloads`` (and ``prediction_rollup``, in `rollup_table`) is a *history*
table: rows are only ever inserted (database triggers refuse UPDATE and DELETE, see the migrations),
each row carries ``audit_seq``, the sequence number of the audit entry whose payload covers it, and
"current" state is derived from the history.
JSON columns hold canonical JSON text, so a row hashes the same on every backend.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Re-exported: the migrations name the type as govflow.governance.ledger.schema.UTCDateTime.
from govflow.governance.ledger.column_types import UTCDateTime as UTCDateTime


class Base(DeclarativeBase):
    pass


def _id() -> Mapped[str]:
    return mapped_column(String(36), primary_key=True)


def _seq() -> Mapped[int]:
    return mapped_column(Integer, index=True)


class Run(Base):
    """One execution of a flow or a task, written once."""

    __tablename__ = "runs"
    id: Mapped[str] = _id()
    kind: Mapped[str] = mapped_column(String(16))  # flow | task | command
    name: Mapped[str] = mapped_column(String(200))
    parent_run_id: Mapped[str | None] = mapped_column(String(36), index=True)
    root_run_id: Mapped[str | None] = mapped_column(String(36), index=True)
    prefect_run_id: Mapped[str | None] = mapped_column(String(36), index=True)
    prefect_flow_run_id: Mapped[str | None] = mapped_column(String(36))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    params_json: Mapped[str] = mapped_column(Text)
    code_ref: Mapped[str | None] = mapped_column(String(200))
    source_hash: Mapped[str | None] = mapped_column(String(80))
    env_json: Mapped[str] = mapped_column(Text)
    config_hash: Mapped[str | None] = mapped_column(String(80))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    audit_seq: Mapped[int] = _seq()


class RunState(Base):
    __tablename__ = "run_states"
    id: Mapped[str] = _id()
    run_id: Mapped[str] = mapped_column(String(36), index=True)
    state: Mapped[str] = mapped_column(String(16))  # running | completed | failed
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    error_type: Mapped[str | None] = mapped_column(String(200))
    error_message: Mapped[str | None] = mapped_column(Text)
    audit_seq: Mapped[int] = _seq()


class DatasetVersion(Base):
    """A data set as content: one row per distinct fingerprint."""

    __tablename__ = "dataset_versions"
    id: Mapped[str] = _id()
    name: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(80), unique=True)
    schema_hash: Mapped[str | None] = mapped_column(String(64))
    schema_json: Mapped[str | None] = mapped_column(Text)
    row_count: Mapped[int | None] = mapped_column(Integer)
    uri: Mapped[str | None] = mapped_column(Text)
    produced_by_run_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    audit_seq: Mapped[int] = _seq()


class ModelVersion(Base):
    __tablename__ = "model_versions"
    __table_args__ = (Index("ux_model_versions_system_version", "system", "version", unique=True),)
    id: Mapped[str] = _id()
    system: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    fingerprint: Mapped[str] = mapped_column(String(80), index=True)
    artifact_hash: Mapped[str] = mapped_column(String(64))
    artifact_uri: Mapped[str] = mapped_column(Text)
    training_run_id: Mapped[str | None] = mapped_column(String(36))
    hyperparams_json: Mapped[str] = mapped_column(Text)
    config_snapshot: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    audit_seq: Mapped[int] = _seq()


class StageChange(Base):
    __tablename__ = "stage_changes"
    id: Mapped[str] = _id()
    model_version_id: Mapped[str] = mapped_column(String(36), index=True)
    stage: Mapped[str] = mapped_column(String(16))  # candidate|approved|production|retired|suspended
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    audit_seq: Mapped[int] = _seq()


class SystemState(Base):
    __tablename__ = "system_states"
    id: Mapped[str] = _id()
    system: Mapped[str] = mapped_column(String(200), index=True)
    state: Mapped[str] = mapped_column(String(16))  # active | frozen
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    incident_id: Mapped[str | None] = mapped_column(String(36))
    audit_seq: Mapped[int] = _seq()


class Artifact(Base):
    """A stored file (report, document, model), by content hash in the artifact store."""

    __tablename__ = "artifacts"
    id: Mapped[str] = _id()
    kind: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    uri: Mapped[str] = mapped_column(Text)
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    produced_by_run_id: Mapped[str | None] = mapped_column(String(36), index=True)
    model_version_id: Mapped[str | None] = mapped_column(String(36), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    audit_seq: Mapped[int] = _seq()


class Edge(Base):
    """A run's input or output: a data set, model, artifact or plain value, by fingerprint."""

    __tablename__ = "edges"
    id: Mapped[str] = _id()
    run_id: Mapped[str] = mapped_column(String(36), index=True)
    direction: Mapped[str] = mapped_column(String(8))  # input | output
    role: Mapped[str] = mapped_column(String(200))  # argument name, or "return"
    entity_kind: Mapped[str] = mapped_column(String(16))  # dataset | model | artifact | file | value
    entity_id: Mapped[str | None] = mapped_column(String(36), index=True)
    fingerprint: Mapped[str] = mapped_column(String(80), index=True)
    audit_seq: Mapped[int] = _seq()


class CheckResultRow(Base):
    __tablename__ = "check_results"
    id: Mapped[str] = _id()
    run_id: Mapped[str] = mapped_column(String(36), index=True)
    model_version_id: Mapped[str | None] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # validation | fairness | drift | performance
    name: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(Text)
    passed: Mapped[int | None] = mapped_column(Integer)  # 1, 0, or NULL for "not judged"
    observed_json: Mapped[str] = mapped_column(Text)
    threshold_json: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(16))
    details_json: Mapped[str] = mapped_column(Text)
    audit_seq: Mapped[int] = _seq()


class Decision(Base):
    __tablename__ = "decisions"
    id: Mapped[str] = _id()
    model_version_id: Mapped[str] = mapped_column(String(36), index=True)
    run_id: Mapped[str | None] = mapped_column(String(36))
    outcome: Mapped[str] = mapped_column(String(8))  # pass | block
    reasons_json: Mapped[str] = mapped_column(Text)
    policy_hash: Mapped[str] = mapped_column(String(64))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)
    audit_seq: Mapped[int] = _seq()


class PolicyRecord(Base):
    """A policy a gate decision applied, in full: one row per distinct policy of a system.

    ``content_json`` is the canonical JSON of the fully defaulted policy and ``policy_hash`` its
    sha256 (what ``decisions.policy_hash`` holds), so a decision's bounds can always be read back.
    Recorded in the transaction of the first decision that applied it; later decisions under the
    same policy point at the same row through their ``policy_hash``.
    """

    __tablename__ = "policies"
    __table_args__ = (Index("ux_policies_system_hash", "system", "policy_hash", unique=True),)
    id: Mapped[str] = _id()
    system: Mapped[str] = mapped_column(String(200))
    policy_hash: Mapped[str] = mapped_column(String(64))
    content_json: Mapped[str] = mapped_column(Text)
    recorded_by_run_id: Mapped[str | None] = mapped_column(String(36))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    audit_seq: Mapped[int] = _seq()


class Approval(Base):
    __tablename__ = "approvals"
    id: Mapped[str] = _id()
    model_version_id: Mapped[str] = mapped_column(String(36), index=True)
    role: Mapped[str] = mapped_column(String(100))
    approver: Mapped[str] = mapped_column(String(200))
    os_user: Mapped[str] = mapped_column(String(200))
    decision: Mapped[str] = mapped_column(String(8))  # approve | reject
    rationale: Mapped[str] = mapped_column(Text)
    evidence_hash: Mapped[str] = mapped_column(String(64))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)
    audit_seq: Mapped[int] = _seq()


class PolicyApproval(Base):
    """A person with the policy's owning role put a system's policy in force (`govflow policy approve`).

    The policy in force for a system is its latest row; the content is the ``policies`` row of the
    same ``(system, policy_hash)``. See `govflow.governance.registry.policy_in_force`.
    """

    __tablename__ = "policy_approvals"
    id: Mapped[str] = _id()
    system: Mapped[str] = mapped_column(String(200), index=True)
    policy_hash: Mapped[str] = mapped_column(String(64))
    previous_policy_hash: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(100))
    approver: Mapped[str] = mapped_column(String(200))
    os_user: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    approved_at: Mapped[datetime] = mapped_column(UTCDateTime)
    audit_seq: Mapped[int] = _seq()


class ApprovalSignature(Base):
    """An SSH signature (``ssh-keygen -Y sign -n govflow``) over an approval's statement.

    The statement is the canonical JSON of the approval row's own fields (see
    `govflow.governance.access.signatures.statement`); the public key and principal are kept so
    anyone can check it with ``ssh-keygen -Y verify`` and nothing else.
    """

    __tablename__ = "approval_signatures"
    id: Mapped[str] = _id()
    approval_id: Mapped[str] = mapped_column(String(36), index=True)
    principal: Mapped[str] = mapped_column(String(300))
    public_key: Mapped[str] = mapped_column(Text)
    key_fingerprint: Mapped[str] = mapped_column(String(100))
    signature: Mapped[str] = mapped_column(Text)
    allowed_signers_hash: Mapped[str] = mapped_column(String(64))
    audit_seq: Mapped[int] = _seq()


class Prediction(Base):
    __tablename__ = "predictions"
    __table_args__ = (  # migration 0006: the dashboard's and the audit API's queries (payload_hash: hash on PostgreSQL)
        Index("ix_predictions_system_served_at", "system", "served_at"),
        Index("ix_predictions_model_version_id_served_at", "model_version_id", "served_at"),
    )
    id: Mapped[str] = _id()
    request_id: Mapped[str] = mapped_column(String(64), index=True)
    system: Mapped[str] = mapped_column(String(200))
    model_version_id: Mapped[str] = mapped_column(String(36))
    output_json: Mapped[str] = mapped_column(Text)
    latency_ms: Mapped[float] = mapped_column(Float)
    served_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    caller: Mapped[str] = mapped_column(String(200))
    payload_hash: Mapped[str] = mapped_column(String(64), index=True)
    audit_seq: Mapped[int] = _seq()


class PredictionPayload(Base):
    """Personal data of a prediction: NOT chained, purgeable (retention, erasure).

    ``payload_hash = sha256(canonical({"features", "salt", "sensitive", "subject_id", "subject_id_sent"}))``
    (without the subject ids for payloads logged before they were hashed: `verify.payload_intact`);
    the random salt dies with the row, so once purged the hash left on the prediction cannot be linked back to a person.
    """

    __tablename__ = "prediction_payloads"
    payload_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    salt: Mapped[str] = mapped_column(String(32))
    features_json: Mapped[str] = mapped_column(Text)
    sensitive_json: Mapped[str] = mapped_column(Text)
    subject_id: Mapped[str | None] = mapped_column(String(200), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # The subject_id sent with a record that also carried the id column (whose value is subject_id): an
    # erasure request may name either (migration 0009).
    subject_id_sent: Mapped[str | None] = mapped_column(String(200), index=True)


class Purge(Base):
    """The tombstone of a purge of prediction payloads."""

    __tablename__ = "purges"
    id: Mapped[str] = _id()
    kind: Mapped[str] = mapped_column(String(16))  # retention | erasure
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    criteria_json: Mapped[str] = mapped_column(Text)
    count: Mapped[int] = mapped_column(Integer)
    audit_seq: Mapped[int] = _seq()


class PurgedPayload(Base):
    __tablename__ = "purged_payloads"
    id: Mapped[str] = _id()
    purge_id: Mapped[str] = mapped_column(String(36), index=True)
    payload_hash: Mapped[str] = mapped_column(String(64), index=True)
    audit_seq: Mapped[int] = _seq()


class Outcome(Base):
    """A late-arriving true outcome for a prediction."""

    __tablename__ = "outcomes"
    id: Mapped[str] = _id()
    prediction_id: Mapped[str] = mapped_column(String(36), index=True)
    outcome_json: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    audit_seq: Mapped[int] = _seq()


class Incident(Base):
    __tablename__ = "incidents"
    id: Mapped[str] = _id()
    system: Mapped[str] = mapped_column(String(200), index=True)
    model_version_id: Mapped[str | None] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(16))
    aware_at: Mapped[datetime] = mapped_column(UTCDateTime)
    report_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    summary: Mapped[str] = mapped_column(Text)
    opened_by_run_id: Mapped[str | None] = mapped_column(String(36))
    audit_seq: Mapped[int] = _seq()


class IncidentEvent(Base):
    """One action of an incident's timeline (freeze, rollback, diff, notice, close...)."""

    __tablename__ = "incident_events"
    id: Mapped[str] = _id()
    incident_id: Mapped[str] = mapped_column(String(36), index=True)
    action: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    by: Mapped[str] = mapped_column(String(200))
    details_json: Mapped[str] = mapped_column(Text)
    audit_seq: Mapped[int] = _seq()


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[str] = _id()
    role: Mapped[str] = mapped_column(String(16))  # auditor | operator
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(200))
    audit_seq: Mapped[int] = _seq()


class ApiTokenRevocation(Base):
    """The revocation of an API token (`govflow token revoke`): its row in ``api_tokens`` stays as
    it was (history is append-only); this row ends it. At most one per token."""

    __tablename__ = "api_token_revocations"
    id: Mapped[str] = _id()
    token_id: Mapped[str] = mapped_column(String(36), unique=True)
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    audit_seq: Mapped[int] = _seq()


class AuditEntry(Base):
    """One link of the hash chain: one per transaction. See ``govflow.canonical``."""

    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    recorded_at: Mapped[str] = mapped_column(String(32))  # RFC 3339 UTC text, exactly as hashed
    event_type: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(Text)
    payload_json: Mapped[str] = mapped_column(Text)
    payload_hash: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)


HISTORY_TABLES = [
    t for t in Base.metadata.sorted_tables if t.name not in ("prediction_payloads", "prediction_rollup", "audit_log")
]
APPEND_ONLY_TABLES = [t.name for t in HISTORY_TABLES] + ["audit_log"]
