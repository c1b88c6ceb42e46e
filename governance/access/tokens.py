"""API tokens for `govflow serve`: created with `govflow token create`, stored only as their sha256.

Roles: ``auditor`` reads (the ``/audit/`` endpoints); ``operator`` serves and writes (``/predict``).
The secret is shown once, when it is made; the ledger keeps ``sha256(secret)`` (hex), the role, a
label (the caller identity written on each prediction) and who created it, as a chained history row.
While no token exists at all (the embedded default), ``serve`` listens on 127.0.0.1 only and
``/predict`` needs no token; the auditor endpoints always need one.

`govflow token revoke` ends a token. History rows are never changed, so the token's row stays as it
was and a row of ``api_token_revocations`` (at most one per token, chained like every other write)
records when, by whom and why. A revoked token still counts as "a token exists" (revoking the last
one does not reopen ``/predict`` to anonymous callers).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select

from govflow import canonical as canon
from govflow.errors import InputError
from govflow.governance.ledger.chained import chained
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import ApiToken, ApiTokenRevocation

ROLES = ("auditor", "operator")
PREFIX = "gft_"
BAD_ROLE = "unknown role '{role}'; choose auditor (read the audit endpoints) or operator (serve predictions)"
BAD_LABEL = "label '{label}': use 1 to 100 letters, digits, '.', '_', '-' or '@'"
TAKEN_LABEL = "a token labelled '{label}' already exists; choose another --label (it names the caller in the log)"
UNKNOWN_TOKEN = "no token has the id or label '{ref}'; `govflow token list` shows them"
ALREADY_REVOKED = "token {id} ('{label}') was already revoked at {at} by {by}; nothing was changed"
EVENT_REVOKED = "token.revoked"
REVOKED = "this token ('{label}') was revoked at {at}: ask for a new one (`govflow token create`)"
# How long `govflow serve` may answer from its cached copy of the token table: a token revoked by
# any process is refused by every request that starts more than this many seconds after the
# revocation committed.
CACHE_S = 1.0


@dataclass(frozen=True)
class TokenInfo:
    """Who a presented token belongs to (never the secret); ``revoked_at`` is set once it is revoked."""

    id: str
    role: str
    label: str
    revoked_at: str | None = None


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_token(ledger: Ledger, *, role: str, label: str | None, created_by: str) -> tuple[str, TokenInfo]:
    """A new token; returns ``(secret, info)``. The secret is not stored anywhere: show it once."""
    if role not in ROLES:
        raise InputError(BAD_ROLE.format(role=role))
    secret = PREFIX + secrets.token_urlsafe(32)
    with ledger.write("token.created", f"{role} token") as w:
        if label is None:
            count = w.conn.execute(select(func.count()).select_from(ApiToken).where(ApiToken.role == role)).scalar_one()
            label = f"{role}-{count + 1}"
        if not re.fullmatch(r"[A-Za-z0-9._@-]{1,100}", label):
            raise InputError(BAD_LABEL.format(label=label))
        if w.conn.execute(select(ApiToken.id).where(ApiToken.label == label)).first():
            raise InputError(TAKEN_LABEL.format(label=label))
        row = w.add(ApiToken, role=role, token_hash=hash_secret(secret), label=label, created_at=canon.utc_now(),
                    created_by=created_by)
    return secret, TokenInfo(row["id"], role, label)


def _find(conn: Connection, ref: str) -> tuple[str, str] | None:
    """``(id, label)`` of the token whose id, else whose label, is ``ref``."""
    rows = conn.execute(select(ApiToken.id, ApiToken.label).where(or_(ApiToken.id == ref, ApiToken.label == ref),
                                                              chained(ApiToken))).all()
    if not rows:
        return None
    found = next((r for r in rows if r[0] == ref), rows[0])  # an id wins over a label
    return str(found[0]), str(found[1])


def revoke_token(ledger: Ledger, ref: str, *, revoked_by: str, reason: str = "") -> TokenInfo:
    """Revoke the token with id (or label) ``ref``: one ``api_token_revocations`` row through
    `Ledger.write`, with its audit entry. An unknown or already revoked token is an `InputError`
    and writes nothing. A serving process refuses the token within `CACHE_S` seconds."""
    with ledger.read() as conn:
        found = _find(conn, ref)
    if found is None:
        raise InputError(UNKNOWN_TOKEN.format(ref=ref))
    token_id, label = found
    with ledger.write(EVENT_REVOKED, f"token {token_id} ({label})") as w:
        # Checked again under the write lock: two revocations at once cannot both land (and the
        # unique token_id would refuse the second anyway).
        row = w.conn.execute(select(ApiToken.role).where(ApiToken.id == token_id, chained(ApiToken))).first()
        if row is None:  # pragma: no cover - token rows are never deleted (append-only)
            raise InputError(UNKNOWN_TOKEN.format(ref=ref))
        earlier = w.conn.execute(select(ApiTokenRevocation.revoked_at, ApiTokenRevocation.revoked_by)
                                 .where(ApiTokenRevocation.token_id == token_id, chained(ApiTokenRevocation))).first()
        if earlier is not None:
            raise InputError(ALREADY_REVOKED.format(id=token_id, label=label, at=canon.format_ts(earlier[0]),
                                                    by=earlier[1]))
        revoked = w.add(ApiTokenRevocation, token_id=token_id, revoked_at=canon.utc_now(), revoked_by=revoked_by,
                        reason=reason)
    return TokenInfo(token_id, str(row[0]), label, canon.format_ts(revoked["revoked_at"]))


def all_tokens(conn: Connection) -> dict[str, TokenInfo]:
    """Every token, revoked ones included, by the hash of its secret (the table is small: the server
    caches it; `govflow.web.app.Auth` tells a revoked token from an unknown one)."""
    query = (select(ApiToken.id, ApiToken.role, ApiToken.label, ApiToken.token_hash, ApiTokenRevocation.revoked_at)
             .outerjoin(ApiTokenRevocation, and_(ApiTokenRevocation.token_id == ApiToken.id, chained(ApiTokenRevocation)))
             .where(chained(ApiToken)))
    return {h: TokenInfo(i, r, lab, None if at is None else canon.format_ts(at)) for i, r, lab, h, at in conn.execute(query)}


def list_tokens(conn: Connection) -> list[dict[str, Any]]:
    """Every token in the order made: id, role, label, created (when, by whom), and its revocation if
    any. Never the secret, nor its hash."""
    rows = conn.execute(
        select(ApiToken.id, ApiToken.role, ApiToken.label, ApiToken.created_at, ApiToken.created_by,
               ApiTokenRevocation.revoked_at, ApiTokenRevocation.revoked_by, ApiTokenRevocation.reason)
        .outerjoin(ApiTokenRevocation, and_(ApiTokenRevocation.token_id == ApiToken.id, chained(ApiTokenRevocation)))
        .where(chained(ApiToken))
        .order_by(ApiToken.audit_seq, ApiToken.id)).all()
    return [{"id": i, "role": r, "label": lab, "created_at": canon.format_ts(at), "created_by": by,
             "revoked": None if rat is None else {"at": canon.format_ts(rat), "by": rby, "reason": why}}
            for i, r, lab, at, by, rat, rby, why in rows]


def find_token(conn: Connection, secret: str) -> TokenInfo | None:
    """The token a secret belongs to, revoked or not; None when unknown."""
    return all_tokens(conn).get(hash_secret(secret))


def verify_token(conn: Connection, secret: str) -> TokenInfo | None:
    """The token a secret belongs to, or None when unknown or revoked."""
    found = find_token(conn, secret)
    return None if found is None or found.revoked_at is not None else found
