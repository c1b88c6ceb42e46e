"""The model registry: versions, stages, human approvals and promotion, as ledger history.

Stages: candidate -> approved -> production -> retired, plus suspended (an incident). Every stage
change is a new `stage_changes` row; the current stage is the latest one. A version reaches
production only through `promote`, which checks, in the same transaction that writes the change,
that the gate passed for that exact version (in a gate run that completed with its documents
stored: `govflow.governance.registry.gate_runs`), that every role the policy requires approved it (and
none rejected it since), and that the system is not frozen.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select

from govflow import canonical as canon
from govflow.errors import ComplianceBlocked, InputError
from govflow.governance.ledger.chained import chained
from govflow.governance.ledger.engine import Ledger, Writer
from govflow.governance.ledger.schema import (
    Approval,
    ApprovalSignature,
    Artifact,
    AuditEntry,
    CheckResultRow,
    Decision,
    ModelVersion,
    StageChange,
    SystemState,
)
from govflow.governance.registry.gate_runs import why_not_counted

# The one parser of NAME:VERSION lives apart, light, so a command checks its argument before loading the ledger.
from govflow.governance.registry.refs import ALIASES as ALIASES
from govflow.governance.registry.refs import BAD_VERSION as BAD_VERSION
from govflow.governance.registry.refs import BARE_NAME as BARE_NAME
from govflow.governance.registry.refs import parse_ref as parse_ref

STAGES = ("candidate", "approved", "production", "retired", "suspended")
UNKNOWN_SYSTEM = "no model versions recorded for system '{system}'; train one with `govflow run train -c govflow.yaml`"
UNKNOWN_VERSION = "{system} has no version {version} (versions: {known})"
NO_PRODUCTION = "{system} has no version in production; promote one with `govflow promote {system}:VERSION`"


@dataclass(frozen=True)
class VersionRef:
    id: str
    system: str
    version: int

    def __str__(self) -> str:
        return f"{self.system}:{self.version}"


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER", "unknown")


def resolve(conn: Connection, ref: str) -> VersionRef:
    """``NAME:VERSION`` (a number, ``latest`` or ``production``) to a recorded version."""
    system, version = parse_ref(ref)
    rows = conn.execute(
        select(ModelVersion.id, ModelVersion.version).where(ModelVersion.system == system, chained(ModelVersion))
        .order_by(ModelVersion.version)
    ).all()
    if not rows:
        raise InputError(UNKNOWN_SYSTEM.format(system=system))
    if version == "latest":
        return VersionRef(rows[-1][0], system, rows[-1][1])
    if version == "production":
        found = production_version(conn, system)
        if found is None:
            raise InputError(NO_PRODUCTION.format(system=system))
        return found
    if version not in {r[1] for r in rows}:
        known = ", ".join(str(r[1]) for r in rows)
        raise InputError(UNKNOWN_VERSION.format(system=system, version=version, known=known))
    return next(VersionRef(r[0], system, r[1]) for r in rows if r[1] == version)


def current_stage(conn: Connection, model_version_id: str) -> str | None:
    return conn.execute(
        select(StageChange.stage).where(StageChange.model_version_id == model_version_id, chained(StageChange))
        .order_by(StageChange.audit_seq.desc(), StageChange.at.desc()).limit(1)
    ).scalar()


def production_version(conn: Connection, system: str) -> VersionRef | None:
    for mv_id, version in conn.execute(
        select(ModelVersion.id, ModelVersion.version).where(ModelVersion.system == system, chained(ModelVersion))
        .order_by(ModelVersion.version.desc())
    ):
        if current_stage(conn, mv_id) == "production":
            return VersionRef(mv_id, system, version)
    return None


def system_state(conn: Connection, system: str) -> tuple[str, str | None]:
    """``(state, incident_id)``: ``active`` unless the latest system state says frozen."""
    row = conn.execute(
        select(SystemState.state, SystemState.incident_id).where(SystemState.system == system, chained(SystemState))
        .order_by(SystemState.audit_seq.desc()).limit(1)
    ).first()
    return (row[0], row[1]) if row else ("active", None)


def latest_decision(conn: Connection, model_version_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(Decision).where(Decision.model_version_id == model_version_id, chained(Decision))
        .order_by(Decision.audit_seq.desc()).limit(1)
    ).mappings().first()
    return dict(row) if row else None


def approvals_in_force(conn: Connection, model_version_id: str) -> dict[str, dict[str, Any]]:
    """The latest approval or rejection per role."""
    latest: dict[str, dict[str, Any]] = {}
    for row in conn.execute(
        select(Approval).where(Approval.model_version_id == model_version_id, chained(Approval))
        .order_by(Approval.audit_seq)
    ).mappings():
        latest[row["role"]] = dict(row)
    return latest


def next_version(conn: Connection, system: str) -> int:
    return int(conn.execute(select(func.coalesce(func.max(ModelVersion.version), 0))
                            .where(ModelVersion.system == system)).scalar_one()) + 1


def add_stage(w: Writer, model_version_id: str, stage: str, by: str, reason: str) -> None:
    assert stage in STAGES, stage
    w.add(StageChange, model_version_id=model_version_id, stage=stage, at=canon.utc_now(), by=by, reason=reason)


def evidence_hash(conn: Connection, model_version_id: str) -> tuple[str, dict[str, Any]]:
    """What an approver saw: the version's documents, its check results and the chain head now."""
    documents = sorted(conn.execute(
        select(Artifact.kind, Artifact.content_hash).where(Artifact.model_version_id == model_version_id, chained(Artifact))
    ).all())
    checks = sorted(conn.execute(
        select(CheckResultRow.id).where(CheckResultRow.model_version_id == model_version_id, chained(CheckResultRow))
    ).scalars())
    head = conn.execute(select(AuditEntry.entry_hash).order_by(AuditEntry.seq.desc()).limit(1)).scalar_one()
    evidence = {"documents": [list(d) for d in documents], "check_results": checks, "chain_head": head}
    return canon.hash_value(evidence), evidence


def approval_rules(conn: Connection, version: VersionRef, decision: Mapping[str, Any]) -> tuple[Any, Path | None]:
    """``(policy, allowed-signers path)`` of the policy the version's gate decision applied.

    The rules (`policy.separation_of_duties`, `signed_approvals`, `allowed_signers`) are those of the
    recorded policy, not of whatever the config file says now; the allowed-signers path is relative to
    the folder of the config the version was trained with.
    """
    from govflow.checks.policy import Policy
    from govflow.governance.registry.policies import applied, policy_section

    found = applied(conn, version.system, decision)
    policy = Policy.from_mapping(policy_section(found.content) if found is not None and found.content is not None else {})
    if policy.allowed_signers is None:
        return policy, None
    base = json.loads(version_row(conn, version.id)["config_snapshot"]).get("base_dir", "")
    return policy, (Path(base) / policy.allowed_signers).expanduser()


def approve(ledger: Ledger, ref: str, *, approver: str, role: str, reason: str, reject: bool = False,
            required_roles: list[str] | None = None, sign_with: Path | None = None) -> dict[str, Any]:
    """Record a named approval (or rejection); when every required role approved, stage -> approved.

    Refused when the policy's separation of duties forbids it (`govflow.governance.access.duties`), or
    when it requires signed approvals and ``sign_with`` (an SSH private key) is not given; a signature
    is recorded with the approval (`govflow.governance.access.signatures`).
    """
    from govflow.governance.access import duties, signatures

    if not approver.strip() or not reason.strip():
        raise InputError("an approval needs a name (--as NAME) and a reason (--reason TEXT)")
    with ledger.write("model.approval", f"{ref} {role}") as w:
        version = resolve(w.conn, ref)
        stage = current_stage(w.conn, version.id)
        if stage in ("retired", "suspended"):
            raise ComplianceBlocked(f"{version} is {stage}; approvals apply to candidate or approved versions")
        decision = latest_decision(w.conn, version.id)
        if decision is None:
            raise ComplianceBlocked(f"{version} has not been through the gate; run `govflow run gate -c govflow.yaml --version {version.version}` first")
        problem = why_not_counted(w.conn, version, decision)
        if problem:
            raise ComplianceBlocked(f"cannot approve {version}: {problem}")
        policy, allowed_signers = approval_rules(w.conn, version, decision)
        if sign_with is None and policy.signed_approvals == "required":
            signatures.refuse_unsigned(approver, role)
        digest, _ = evidence_hash(w.conn, version.id)
        fields = {"model_version_id": version.id, "role": role, "approver": approver,
                  "decision": "reject" if reject else "approve", "rationale": reason, "evidence_hash": digest}
        signed = None if sign_with is None else signatures.sign(
            sign_with, approver, role, signatures.statement(fields), allowed_signers)
        in_force = approvals_in_force(w.conn, version.id)
        roles = required_roles or []
        if not reject and policy.separation_of_duties:
            conflict = duties.conflict(w.conn, version, approver=approver, role=role, required_roles=roles,
                                       in_force=in_force, fingerprint=signed.key_fingerprint if signed else None)
            if conflict:
                raise ComplianceBlocked(f"cannot approve {version}: {conflict}")
        row = w.add(Approval, **fields, os_user=os_user(), decided_at=canon.utc_now())
        if signed is not None:
            w.add(ApprovalSignature, approval_id=row["id"], principal=signed.principal, public_key=signed.public_key,
                  key_fingerprint=signed.key_fingerprint, signature=signed.signature,
                  allowed_signers_hash=signed.allowed_signers_hash)
        in_force[role] = row
        if (not reject and stage == "candidate" and decision["outcome"] == "pass" and roles
                and all(in_force.get(r, {}).get("decision") == "approve" for r in roles)):
            add_stage(w, version.id, "approved", approver, f"approved by every required role: {', '.join(roles)}")
    return {"version": str(version), **row, "signed_by": None if signed is None else signed.key_fingerprint}


def missing_for_promotion(conn: Connection, version: VersionRef, required_roles: list[str]) -> list[str]:
    missing = []
    state, incident = system_state(conn, version.system)
    if state == "frozen":
        missing.append(f"the system {version.system} is frozen (incident {incident}); no promotion while it is open")
    stage = current_stage(conn, version.id)
    if stage in ("production", "retired", "suspended"):
        missing.append(f"{version} is {stage}")
    decision = latest_decision(conn, version.id)
    if decision is None:
        missing.append(f"no gate decision for {version}: run the gate for this exact version")
    elif problem := why_not_counted(conn, version, decision):
        missing.append(problem)
    elif decision["outcome"] != "pass":
        reasons = "; ".join(json.loads(decision["reasons_json"])[:3])
        missing.append(f"the gate blocked {version}: {reasons}")
    in_force = approvals_in_force(conn, version.id)
    for role in required_roles:
        given = in_force.get(role)
        if given is None:
            missing.append(f"approval by role '{role}'")
        elif given["decision"] != "approve":
            missing.append(f"role '{role}' rejected it ({given['approver']}: {given['rationale']})")
    return missing


def promote(ledger: Ledger, ref: str, *, by: str, required_roles: list[str]) -> VersionRef:
    """Put a version in production, retiring the one before; refused with every reason otherwise."""
    with ledger.write("model.promotion", ref) as w:
        version = resolve(w.conn, ref)
        missing = missing_for_promotion(w.conn, version, required_roles)
        if missing:
            raise ComplianceBlocked(f"cannot promote {version}: missing: " + "; ".join(missing))
        previous = production_version(w.conn, version.system)
        if previous is not None:
            add_stage(w, previous.id, "retired", by, f"replaced in production by {version}")
        add_stage(w, version.id, "production", by, "gate passed and every required role approved")
    return version


@dataclass(frozen=True)
class Attachment:
    """A file stored with a new model version (held-out data, data contract, config...)."""

    kind: str
    name: str
    data: bytes
    media_type: str


def register_version(ledger: Ledger, *, system: str, model_data: bytes, fingerprint: str,
                     training_run_id: str | None, hyperparams: dict[str, Any], config_snapshot: dict[str, Any],
                     attachments: list[Attachment], by: str,
                     reason: str = "registered by the training flow") -> VersionRef:
    """A new version as ``candidate``, its model bytes and attachments stored, in one transaction."""
    from govflow.governance.ledger.runs import add_artifact, to_json

    with ledger.write("model.registered", system) as w:
        version = next_version(w.conn, system)
        content_hash = ledger.artifacts.put(model_data)
        row = w.add(ModelVersion, system=system, version=version, fingerprint=fingerprint,
                    artifact_hash=content_hash, artifact_uri=ledger.artifacts.uri(content_hash),
                    training_run_id=training_run_id, hyperparams_json=to_json(hyperparams),
                    config_snapshot=to_json(config_snapshot), created_at=canon.utc_now())
        for item in attachments:
            add_artifact(w, ledger.artifacts, kind=item.kind, name=item.name, data=item.data,
                         media_type=item.media_type, run_id=training_run_id, model_version_id=row["id"])
        add_stage(w, row["id"], "candidate", by, reason)
    return VersionRef(row["id"], system, version)


def version_row(conn: Connection, model_version_id: str) -> dict[str, Any]:
    return dict(conn.execute(select(ModelVersion).where(ModelVersion.id == model_version_id)).mappings().one())


def attachment(ledger: Ledger, model_version_id: str, kind: str) -> bytes | None:
    """The latest stored file of a kind linked to a version."""
    with ledger.read() as conn:
        content_hash = conn.execute(
            select(Artifact.content_hash).where(Artifact.model_version_id == model_version_id, Artifact.kind == kind,
                                               chained(Artifact))
            .order_by(Artifact.audit_seq.desc()).limit(1)
        ).scalar()
    return None if content_hash is None else ledger.artifacts.read(content_hash)


def record_decision(ledger: Ledger, version: VersionRef, *, outcome: str, reasons: list[str],
                    policy: Mapping[str, Any], run_id: str | None) -> dict[str, Any]:
    """The gate's outcome for one exact version (pass or block), with every reason and, in the same
    transaction, the policy it applied (in full, see `govflow.governance.registry.policies`), which must
    be the system's policy in force (or becomes it: its first; `govflow.governance.registry.policy_in_force`)."""
    assert outcome in ("pass", "block"), outcome
    from govflow.governance.ledger.runs import to_json
    from govflow.governance.registry.policies import record_policy
    from govflow.governance.registry.policy_in_force import adopt_or_require

    with ledger.write(f"gate.{outcome}", str(version)) as w:
        digest = record_policy(w, version.system, policy, run_id)
        adopt_or_require(w, version.system, policy, digest, os_user())
        return w.add(Decision, model_version_id=version.id, run_id=run_id, outcome=outcome,
                     reasons_json=to_json(reasons), policy_hash=digest, decided_at=canon.utc_now())
