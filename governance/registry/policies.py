"""The policy a gate decision applied, kept in full, and what changed between two of them.

A decision row holds only ``policy_hash``. The policy itself (fully defaulted, as canonical JSON)
is a ``policies`` row, written in the decision's own transaction the first time a system's gate
applies it, so every decision's bounds can be read back from the ledger however the config file
changed since. ``policy_hash = sha256(content_json)``, the hash `govflow.checks.policy.Policy.hash` gives.

A policy is identified by ``(system, policy_hash)``; `previous_decision_policy` finds the one of the
decision before. Which policy is *in force*, and who put it there, is `govflow.governance.registry.policy_in_force`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from govflow import canonical as canon
from govflow.governance.ledger.chained import chained
from govflow.governance.ledger.engine import Writer
from govflow.governance.ledger.schema import Decision, ModelVersion, PolicyApproval, PolicyRecord


@dataclass(frozen=True)
class AppliedPolicy:
    """The policy one decision applied: its hash, and its content when the ledger holds it."""

    policy_hash: str
    content: Mapping[str, Any] | None  #: None: decided before policies were recorded
    record_id: str | None  #: the ``policies`` row
    decision_id: str | None = None
    version: str | None = None  #: NAME:VERSION the decision was about
    put_in_force: str | None = None  #: "NAME (ROLE) at TIME: REASON", who put it in force (None: before #16)

    def to_dict(self) -> dict[str, Any]:
        return {"policy_hash": self.policy_hash, "policy": self.content, "policy_record": self.record_id,
                "decision": self.decision_id, "version": self.version, "put_in_force": self.put_in_force}


def policy_hash(content: Mapping[str, Any]) -> str:
    return canon.hash_value(content)


def record_policy(w: Writer, system: str, content: Mapping[str, Any], run_id: str | None) -> str:
    """Add the policy to the writer's transaction unless the system's ledger already holds it; its hash."""
    text = canon.canonical(content).decode("utf-8")
    digest = canon.sha256_hex(text.encode("utf-8"))
    known = w.conn.execute(select(PolicyRecord.id).where(
        PolicyRecord.system == system, PolicyRecord.policy_hash == digest)).first()
    if known is None:
        w.add(PolicyRecord, system=system, policy_hash=digest, content_json=text, recorded_by_run_id=run_id,
              recorded_at=canon.utc_now())
    return digest


def applied(conn: Connection, system: str, decision: Mapping[Any, Any] | None, version: str | None = None) -> AppliedPolicy | None:
    """The policy a decision row applied (its content when recorded)."""
    if decision is None:
        return None
    row = conn.execute(select(PolicyRecord.id, PolicyRecord.content_json).where(
        PolicyRecord.system == system, PolicyRecord.policy_hash == decision["policy_hash"], chained(PolicyRecord))).first()
    return AppliedPolicy(decision["policy_hash"], None if row is None else json.loads(row[1]),
                         None if row is None else str(row[0]), decision.get("id"), version,
                         _put_in_force(conn, system, decision["policy_hash"], decision.get("audit_seq")))


def _put_in_force(conn: Connection, system: str, digest: str, before_seq: int | None) -> str | None:
    """Who put the policy in force, as of the decision (`govflow.governance.registry.policy_in_force`)."""
    query = select(PolicyApproval).where(PolicyApproval.system == system, PolicyApproval.policy_hash == digest,
                                         chained(PolicyApproval))
    if before_seq is not None:
        query = query.where(PolicyApproval.audit_seq <= before_seq)
    row = conn.execute(query.order_by(PolicyApproval.audit_seq.desc()).limit(1)).mappings().first()
    if row is None:
        return None
    return f"{row['approver']} ({row['role']}) at {canon.format_ts(row['approved_at'])}: {row['reason']}"


def previous_decision_policy(conn: Connection, system: str, decision: Mapping[Any, Any]) -> AppliedPolicy | None:
    """The policy of the system's gate decision just before ``decision`` (of any of its versions)."""
    row = conn.execute(
        select(Decision, ModelVersion.version).join(ModelVersion, ModelVersion.id == Decision.model_version_id)
        .where(ModelVersion.system == system, Decision.audit_seq < decision["audit_seq"], chained(Decision))
        .order_by(Decision.audit_seq.desc()).limit(1)).mappings().first()
    if row is None:
        return None
    return applied(conn, system, row, f"{system}:{row['version']}")


def applied_and_previous(conn: Connection, system: str, version: str,
                         decision_id: str | None) -> tuple[AppliedPolicy | None, AppliedPolicy | None]:
    """The policy decision ``decision_id`` applied, and the one of the system's decision before it."""
    if decision_id is None:
        return None, None
    decision = conn.execute(select(Decision).where(Decision.id == decision_id, chained(Decision))).mappings().first()
    if decision is None:
        return None, None
    return applied(conn, system, decision, version), previous_decision_policy(conn, system, decision)


def required_roles(conn: Connection, system: str, version_id: str, decision: Mapping[Any, Any] | None) -> list[str]:
    """The approval roles of the policy the version's gate ``decision`` applied (else of its config snapshot):
    the same answer for `promote` and for a rollback's choice of the version that may serve again."""
    from govflow.checks.policy import Policy

    used = applied(conn, system, decision)
    if used is not None and used.content is not None:
        return list(Policy.from_mapping(policy_section(used.content)).approvals)
    snapshot = conn.execute(select(ModelVersion.config_snapshot).where(ModelVersion.id == version_id)).scalar_one()
    return list(Policy.from_mapping(json.loads(snapshot).get("policy", {})).approvals)


def policy_section(content: Mapping[str, Any]) -> Mapping[str, Any]:
    """The ``policy:`` mapping of a recorded policy (a recommender's record also holds its evaluation settings)."""
    if set(content) == {"policy", "evaluation"} and isinstance(content["policy"], Mapping):
        return content["policy"]  # govflow.flows.recommender_flow.gate_recommender
    return content


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """A nested mapping as dotted keys (``fairness.min_group_size``), sorted."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key in sorted(value):
            out.update(flatten(value[key], f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def changed_bounds(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Every policy key whose value differs, as ``{"key", "left", "right"}`` (``[]`` if either is unknown)."""
    if old is None or new is None:
        return []
    a, b = flatten(old), flatten(new)
    return [{"key": k, "left": a.get(k), "right": b.get(k)} for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def describe_value(value: Any) -> str:
    return "-" if value is None else value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def describe_changes(changes: list[dict[str, Any]]) -> str:
    """``fairness.x: 0.1 -> 0.2; ...``."""
    return "; ".join(f"{c['key']}: {describe_value(c['left'])} -> {describe_value(c['right'])}" for c in changes)


def change_line(old: AppliedPolicy | None, new: AppliedPolicy | None) -> str | None:
    """One line saying the gate policy changed between two decisions, bound by bound; None if it did not."""
    if old is None or new is None or old.policy_hash == new.policy_hash:
        return None
    changes = changed_bounds(old.content, new.content)
    what = describe_changes(changes) if changes else "its content is not in the ledger (decided before policies were recorded)"
    who = f"; put in force by {new.put_in_force}" if new.put_in_force else ""
    return f"gate policy changed ({old.policy_hash[:12]} -> {new.policy_hash[:12]}): {what}{who}"
