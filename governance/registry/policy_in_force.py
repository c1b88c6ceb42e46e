"""The policy in force for a system: a ledger record, changed only by a person with the policy's owning role.

The policy in force is the system's latest ``policy_approvals`` row; its content is the ``policies``
row of the same hash. A gate whose config policy differs from it stops (`require`, exit 1, showing
the difference bound by bound) until ``govflow policy approve -c govflow.yaml --as NAME --role ROLE
--reason TEXT`` puts the new one in force (`approve_policy`), where ROLE must be the owning role
(``policy.owner_role``, default ``risk_officer``) of the policy in force.

The very first policy of a system comes into force with its first gate decision: there is nothing
to compare it with, so the gate records it in force in the decision's own transaction, as the
``first gate`` (approver: the OS user who ran it), visible in ``govflow policy history``. A team
that wants a person to sign even the first policy runs ``govflow policy approve`` before the first
gate: the gate then finds that policy in force.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from govflow import canonical as canon
from govflow.errors import ComplianceBlocked, InputError
from govflow.governance.ledger.chained import chained
from govflow.governance.ledger.engine import Ledger, Writer
from govflow.governance.ledger.schema import PolicyApproval, PolicyRecord
from govflow.governance.registry.policies import (
    changed_bounds,
    describe_changes,
    policy_hash,
    policy_section,
    record_policy,
)

FIRST_GATE = "first gate"
FIRST_GATE_REASON = ("the system's first policy, put in force by its first gate decision; a change needs "
                     "`govflow policy approve`")
DIFFERS = ("the policy in {source} differs from the policy in force for {system}: {changes} (policy {old} -> {new}; "
           "{old} in force since {since}, by {who}). The gate stops until a person with the policy's owning role ({owner}) puts "
           "the new policy in force: govflow policy approve -c {source} --as NAME --role {owner} --reason TEXT "
           "(or restore the policy in force in {source})")
WRONG_ROLE = ("role '{role}' does not own the policy of {system}: a change needs role '{owner}' "
              "(policy.owner_role of the policy in force); use --role {owner}")
NO_TEXT = "a policy approval needs a name (--as NAME) and a reason (--reason TEXT)"


def owner_role_of(content: Mapping[str, Any]) -> str:
    """``policy.owner_role`` of a recorded policy (a recommender's record nests it under ``policy``)."""
    return str(policy_section(content).get("owner_role", "risk_officer"))


@dataclass(frozen=True)
class InForce:
    """One policy put in force for a system: who, when, why, and what it replaced."""

    system: str
    policy_hash: str
    content: Mapping[str, Any]
    approver: str
    role: str
    reason: str
    approved_at: datetime
    previous_policy_hash: str | None
    audit_seq: int

    @property
    def owner_role(self) -> str:
        return owner_role_of(self.content)

    def who(self) -> str:
        return f"{self.approver} ({self.role})"

    def to_dict(self) -> dict[str, Any]:
        return {"system": self.system, "policy_hash": self.policy_hash, "policy": dict(self.content),
                "approver": self.approver, "role": self.role, "reason": self.reason,
                "approved_at": canon.format_ts(self.approved_at), "previous_policy_hash": self.previous_policy_hash,
                "audit_seq": self.audit_seq}


def _content(conn: Connection, system: str, digest: str) -> Mapping[str, Any]:
    text = conn.execute(select(PolicyRecord.content_json).where(
        PolicyRecord.system == system, PolicyRecord.policy_hash == digest, chained(PolicyRecord))).scalar()
    return {} if text is None else dict(json.loads(text))


def history(conn: Connection, system: str) -> list[InForce]:
    """Every policy put in force for ``system``, oldest first (the last one is in force)."""
    rows = conn.execute(select(PolicyApproval).where(PolicyApproval.system == system, chained(PolicyApproval))
                        .order_by(PolicyApproval.audit_seq)).mappings().all()
    return [InForce(system, r["policy_hash"], _content(conn, system, r["policy_hash"]), r["approver"], r["role"],
                    r["reason"], r["approved_at"], r["previous_policy_hash"], r["audit_seq"]) for r in rows]


def in_force(conn: Connection, system: str) -> InForce | None:
    found = history(conn, system)
    return found[-1] if found else None


def put_in_force(conn: Connection, system: str, digest: str) -> InForce | None:
    """The record that put ``digest`` in force for ``system`` (the latest, if more than once)."""
    return next((item for item in reversed(history(conn, system)) if item.policy_hash == digest), None)


def difference(conn: Connection, system: str, content: Mapping[str, Any], source: str = "govflow.yaml") -> str | None:
    """Why a gate may not apply ``content``: it differs from the policy in force (None: same, or none yet)."""
    current = in_force(conn, system)
    digest = policy_hash(content)
    if current is None or current.policy_hash == digest:
        return None
    changes = describe_changes(changed_bounds(current.content, content)) or "the content differs"
    return DIFFERS.format(source=source, system=system, old=current.policy_hash[:12], new=digest[:12],
                          since=canon.format_ts(current.approved_at), who=current.who(), changes=changes,
                          owner=current.owner_role)


def require(conn: Connection, system: str, content: Mapping[str, Any], source: str = "govflow.yaml") -> None:
    """`ComplianceBlocked` (exit 1) with the difference when ``content`` is not the policy in force."""
    problem = difference(conn, system, content, source)
    if problem is not None:
        raise ComplianceBlocked(problem)


def adopt_or_require(w: Writer, system: str, content: Mapping[str, Any], digest: str, by: str) -> None:
    """In a gate decision's transaction: the first policy of a system comes into force; any other must be it."""
    if in_force(w.conn, system) is None:
        w.add(PolicyApproval, system=system, policy_hash=digest, previous_policy_hash=None, role=FIRST_GATE,
              approver=by, os_user=by, reason=FIRST_GATE_REASON, approved_at=canon.utc_now())
        return
    require(w.conn, system, content)


@dataclass(frozen=True)
class PolicyApprovalOutcome:
    system: str
    policy_hash: str
    previous: InForce | None
    recorded: bool  #: False: that policy was already in force, nothing written
    changes: str

    def describe(self) -> str:
        if not self.recorded:
            return f"policy {self.policy_hash[:12]} is already in force for {self.system}; nothing recorded"
        was = f" (was {self.previous.policy_hash[:12]}: {self.changes or 'no bound changed'})" if self.previous else ""
        return f"policy {self.policy_hash[:12]} is now in force for {self.system}{was}"


def approve_policy(ledger: Ledger, system: str, content: Mapping[str, Any], *, approver: str, role: str,
                   reason: str, os_user: str) -> PolicyApprovalOutcome:
    """Put ``content`` in force for ``system``, by a person with the owning role of the policy in force."""
    if not approver.strip() or not reason.strip():
        raise InputError(NO_TEXT)
    digest = policy_hash(content)
    with ledger.read() as conn:
        current = in_force(conn, system)
    _check_owner(current, system, content, role)
    if current is not None and current.policy_hash == digest:
        return PolicyApprovalOutcome(system, digest, current, False, "")
    with ledger.write("policy.approved", system) as w:
        current = in_force(w.conn, system)  # again, in the writing transaction: another change may have come first
        _check_owner(current, system, content, role)
        record_policy(w, system, content, None)
        changes = describe_changes(changed_bounds(current.content, content)) if current is not None else ""
        w.add(PolicyApproval, system=system, policy_hash=digest, role=role, approver=approver, os_user=os_user,
              previous_policy_hash=None if current is None else current.policy_hash, reason=reason,
              approved_at=canon.utc_now())
    return PolicyApprovalOutcome(system, digest, current, True, changes)


def _check_owner(current: InForce | None, system: str, content: Mapping[str, Any], role: str) -> None:
    owner = current.owner_role if current is not None else owner_role_of(content)
    if role != owner:
        raise ComplianceBlocked(WRONG_ROLE.format(role=role, system=system, owner=owner))


# -- the policy a judgement after release applies (monitoring, the dashboard) ----------------------

JUDGED_BY_FORCE = ("the policy in {source} differs from the policy in force for {system}: {changes} (policy {new} in "
                   "the file, {old} in force since {since}, by {who}). Judged by the policy in force, not by the file: "
                   "a changed policy applies only once a person with role {owner} puts it in force (govflow policy "
                   "approve -c {source} --as NAME --role {owner} --reason TEXT), or restore the policy in force in {source}")
NONE_IN_FORCE = ("no policy in force for {system} yet (no gate decision, no `govflow policy approve`): judged by the "
                 "policy in {source} ({new})")


@dataclass(frozen=True)
class JudgingPolicy:
    """The policy a judgement after release (a monitoring run) applies, and why that one.

    It is the policy in force (the ledger record) whenever there is one, whatever the config file
    says: an edited file changes nothing until the policy's owning role puts it in force. Only a
    system with no policy in force yet is judged by its config's policy. ``warning`` says so
    whenever the config's policy is not the one applied.
    """

    system: str
    policy_hash: str
    content: Mapping[str, Any]  #: as recorded (a recommender's holds ``policy`` and ``evaluation``)
    in_force: InForce | None  #: None: nothing in force yet, the config's policy applied
    config_hash: str | None  #: the hash of the config's policy, when one was given
    warning: str | None
    history: tuple[InForce, ...] = ()

    @property
    def policy(self) -> Mapping[str, Any]:
        """The ``policy:`` section applied."""
        return policy_section(self.content)

    def cite(self) -> str:
        """``policy 75450ac35a37 (in force since T, by NAME (ROLE): REASON)``."""
        if self.in_force is None:
            return f"policy {self.policy_hash[:12]} (the config's; no policy in force yet)"
        item = self.in_force
        return (f"policy {self.policy_hash[:12]} (in force since {canon.format_ts(item.approved_at)}, "
                f"by {item.who()}: {item.reason})")

    def to_dict(self) -> dict[str, Any]:
        return {"system": self.system, "policy_hash": self.policy_hash, "source": "in force" if self.in_force else "config",
                "cited": self.cite(), "config_policy_hash": self.config_hash, "warning": self.warning,
                "history": history_records(self.history)}


def judging_policy(conn: Connection, system: str, config_content: Mapping[str, Any] | None = None,
                   source: str = "govflow.yaml") -> JudgingPolicy | None:
    """The policy to judge ``system`` by now (see `JudgingPolicy`); None: nothing in force and no config given.

    ``config_content`` is the config's policy as a gate records it (`govflow.checks.policy.Policy.to_dict`;
    a recommender's ``{"policy", "evaluation"}``), compared by hash with the policy in force.
    """
    items = tuple(history(conn, system))
    given = None if config_content is None else policy_hash(config_content)
    if not items:
        if config_content is None:
            return None
        digest = policy_hash(config_content)
        return JudgingPolicy(system, digest, dict(config_content), None, digest,
                             NONE_IN_FORCE.format(system=system, source=source, new=digest[:12]))
    current = items[-1]
    warning = None
    if given is not None and given != current.policy_hash:
        changes = describe_changes(changed_bounds(current.content, config_content)) or "the content differs"
        warning = JUDGED_BY_FORCE.format(source=source, system=system, changes=changes, new=given[:12],
                                         old=current.policy_hash[:12], since=canon.format_ts(current.approved_at),
                                         who=current.who(), owner=current.owner_role)
    return JudgingPolicy(system, current.policy_hash, current.content, current, given, warning, items)


def policy_section_in_force(conn: Connection, system: str) -> Mapping[str, Any] | None:
    """The ``policy:`` section in force for ``system`` (None: none yet), e.g. for the dashboard's bounds."""
    current = in_force(conn, system)
    return None if current is None else policy_section(current.content)


def history_records(items: tuple[InForce, ...] | list[InForce]) -> list[dict[str, Any]]:
    """Each policy put in force, oldest first, with the bounds it changed (JSON-safe)."""
    out, previous = [], None
    for item in items:
        changes = changed_bounds(previous.content, item.content) if previous is not None else []
        out.append({"policy_hash": item.policy_hash, "approved_at": canon.format_ts(item.approved_at),
                    "approver": item.approver, "role": item.role, "reason": item.reason,
                    "changes": describe_changes(changes) if previous is not None else "first policy"})
        previous = item
    return out


def history_lines(items: tuple[InForce, ...] | list[InForce]) -> list[str]:
    """``T HASH by NAME (ROLE): CHANGES (REASON)`` for each policy put in force, oldest first."""
    return [f"{r['approved_at']} {r['policy_hash'][:12]} by {r['approver']} ({r['role']}): "
            f"{r['changes'] or 'no bound changed'} ({r['reason']})" for r in history_records(items)]
