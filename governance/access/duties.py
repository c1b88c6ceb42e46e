"""Separation of duties: who may approve a model version in which role (`policy.separation_of_duties`).

With the default ``separation_of_duties: true``:

* one person fills at most one required role for a version: the same name (compared without case or
  extra spaces), or the same signing key under another name, cannot approve it in a second role;
* whoever registered the version (the ``by`` of its ``candidate`` stage: the OS user that trained
  it, or ``govflow register``'s registrant) may not approve it alone: when the policy requires a
  single role, another person must give it.

Rejections are never refused: anyone entitled to a role may stop a version.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, select

from govflow.governance.ledger.chained import chained
from govflow.governance.ledger.schema import ApprovalSignature, StageChange

SECOND_ROLE = ("separation of duties: {approver} already approved {version} as {other}; one person may fill only one "
               "required role for a version. Ask another person with role {role}, or change the policy "
               "(policy.separation_of_duties: false, put in force with `govflow policy approve`)")
SAME_KEY = ("separation of duties: the key {fingerprint} already signed {version}'s approval as {other} "
            "(by {other_name}); one person may fill only one required role for a version, whatever the name given")
ALONE = ("separation of duties: {approver} registered {version} and may not approve it alone (the policy requires "
         "only role {role}); another person with role {role} must approve it")


def same_person(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def registrant(conn: Connection, model_version_id: str) -> str | None:
    """Who registered the version: the ``by`` of its first ``candidate`` stage."""
    return conn.execute(select(StageChange.by).where(
        StageChange.model_version_id == model_version_id, StageChange.stage == "candidate", chained(StageChange))
        .order_by(StageChange.audit_seq).limit(1)).scalar()


def _fingerprints(conn: Connection, approval_ids: list[str]) -> dict[str, str]:
    rows = conn.execute(select(ApprovalSignature.approval_id, ApprovalSignature.key_fingerprint)
                        .where(ApprovalSignature.approval_id.in_(approval_ids), chained(ApprovalSignature))).all()
    return {str(a): str(f) for a, f in rows}


def conflict(conn: Connection, version: Any, *, approver: str, role: str, required_roles: list[str],
             in_force: Mapping[str, Mapping[str, Any]], fingerprint: str | None = None) -> str | None:
    """Why ``approver`` may not approve ``version`` (a `VersionRef`) as ``role``; None when they may."""
    others = {r: a for r, a in in_force.items() if r != role and a["decision"] == "approve"}
    for other, given in sorted(others.items()):
        if same_person(str(given["approver"]), approver):
            return SECOND_ROLE.format(approver=approver, version=version, other=other, role=role)
    if fingerprint is not None and others:
        keys = _fingerprints(conn, [str(a["id"]) for a in others.values()])
        for other, given in sorted(others.items()):
            if keys.get(str(given["id"])) == fingerprint:
                return SAME_KEY.format(fingerprint=fingerprint, version=version, other=other, other_name=given["approver"])
    by = registrant(conn, version.id)
    if by is not None and same_person(by, approver) and list(required_roles) == [role]:
        return ALONE.format(approver=approver, version=version, role=role)
    return None
