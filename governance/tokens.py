"""API tokens for `govflow serve`: created with `govflow token create`, stored only as their sha256.

Roles: ``auditor`` reads (the ``/audit/`` endpoints); ``operator`` serves and writes (``/predict``).
The secret is shown once, when it is made; the ledger keeps ``sha256(secret)`` (hex), the role, a
label (the caller identity written on each prediction) and who created it, as a chained history row.
While no token exists at all (the embedded default), ``serve`` listens on 127.0.0.1 only and
``/predict`` needs no token; the auditor endpoints always need one.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from checks.errors import InputError
from governance import canonical as canon
from governance.ledger import Ledger
from governance.schema import ApiToken

ROLES = ("auditor", "operator")
PREFIX = "gft_"
BAD_ROLE = "unknown role '{role}'; choose auditor (read the audit endpoints) or operator (serve predictions)"
BAD_LABEL = "label '{label}': use 1 to 100 letters, digits, '.', '_', '-' or '@'"
TAKEN_LABEL = "a token labelled '{label}' already exists; choose another --label (it names the caller in the log)"


@dataclass(frozen=True)
class TokenInfo:
    """Who a presented token belongs to (never the secret)."""

    id: str
    role: str
    label: str


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


def all_tokens(conn: Connection) -> dict[str, TokenInfo]:
    """Every token by the hash of its secret (the table is small: the server caches it)."""
    return {h: TokenInfo(i, r, lab) for i, r, lab, h in
            conn.execute(select(ApiToken.id, ApiToken.role, ApiToken.label, ApiToken.token_hash))}


def list_tokens(conn: Connection) -> list[dict[str, object]]:
    rows = conn.execute(select(ApiToken.role, ApiToken.label, ApiToken.created_at, ApiToken.created_by)
                        .order_by(ApiToken.audit_seq)).all()
    return [{"role": r, "label": lab, "created_at": canon.format_ts(at), "created_by": by} for r, lab, at, by in rows]


def verify_token(conn: Connection, secret: str) -> TokenInfo | None:
    """The token a secret belongs to, or None."""
    return all_tokens(conn).get(hash_secret(secret))
