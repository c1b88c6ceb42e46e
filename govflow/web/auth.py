"""Who is calling `govflow serve`: the bearer tokens of `govflow.governance.access.tokens`, checked per request.

With no token created, only 127.0.0.1 is served and ``/predict`` needs no token (the caller is
``anonymous@<client address>``); once any exists, ``/predict`` needs an operator token and ``/audit/...``
an auditor token. Kept apart from the routes so the dashboard and the audit API share one token cache.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from fastapi import Request
from sqlalchemy.exc import SQLAlchemyError

from govflow.errors import LedgerError
from govflow.governance.access import tokens
from govflow.governance.ledger.engine import Ledger
from govflow.web.audit import HTTPProblem
from govflow.web.guard import rebound_origin

TOKEN_REFRESH_S = tokens.CACHE_S  # the longest a revoked token is still honoured
LOOPBACK = ("127.0.0.1", "::1", "localhost")
# The browser sign-in (`govflow.web.dashboard`, POST /dashboard/login): an HttpOnly, SameSite=Strict
# cookie holding an auditor token, honoured by /dashboard and the read-only /audit routes alike (one
# sign-in per browser); never by /predict, so no page can make a signed-in browser request predictions.
SIGN_IN_COOKIE = "govflow_auditor"

NEED_OPERATOR = "this endpoint needs an operator token (Authorization: Bearer ...): create one with `govflow token create --role operator`"
NEED_AUDITOR = "auditor endpoints need an auditor token (Authorization: Bearer ...): create one with `govflow token create --role auditor`"
BAD_TOKEN = "unknown token: check the Authorization: Bearer header (tokens are shown once, by `govflow token create`)"
REVOKED_TOKEN = tokens.REVOKED
TOKENS_UNAVAILABLE = ("the token table could not be read from the ledger ({error}); no request is let through "
                      "unchecked: retry when the ledger is back (see `govflow verify`)")
WRONG_ROLE = "an {role} token cannot {action}; this needs an {needed} token"


class SignInNeeded(HTTPProblem):
    """A 401 for a caller who presented no token, or only the sign-in cookie of an unknown or revoked one.

    Answered as any `HTTPProblem` (JSON) unless a handler knows better: the dashboard's answers a
    browser with its sign-in form, to come back to the page asked for (`govflow.web.dashboard.install`).
    """


class Auth:
    """Who is calling, from the Authorization header.

    The token table (a few rows) is cached for ``refresh_s`` seconds (`tokens.CACHE_S`, 1 s): a
    token revoked by any process (`govflow token revoke`) is refused by every request that starts
    more than that after the revocation committed. The hot path is then a sha256 and a dict lookup
    (~1 us). Measured per request instead, an indexed SELECT through a pooled connection costs
    0.15 ms on SQLite and 1.7 ms wall (0.55 ms CPU, on the event loop) on PostgreSQL; the reload,
    once a second, 0.3 ms and 1 ms. A reload that fails fails the request: no token outlives its bound.
    """

    def __init__(self, ledger: Ledger, *, refresh_s: float = TOKEN_REFRESH_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ledger = ledger
        self.refresh_s = refresh_s
        self.clock = clock
        self._all: dict[str, tokens.TokenInfo] = {}
        self._loaded: float | None = None
        self._lock = threading.Lock()

    def _table(self) -> dict[str, tokens.TokenInfo]:
        """Every token by the hash of its secret, revoked ones included; at most ``refresh_s`` old."""
        now = self.clock()
        if self._loaded is None or now - self._loaded >= self.refresh_s:
            with self._lock:
                if self._loaded is None or now - self._loaded >= self.refresh_s:
                    started = self.clock()  # the age counts from before the read
                    try:
                        with self.ledger.read() as conn:
                            every = tokens.all_tokens(conn)
                    except (LedgerError, SQLAlchemyError) as e:
                        raise HTTPProblem(503, TOKENS_UNAVAILABLE.format(error=str(e).splitlines()[0]),
                                          {"Retry-After": "1"}) from e
                    self._all = every
                    self._loaded = started
        return self._all

    def lookup(self, secret: str) -> tokens.TokenInfo | None:
        """The token a secret belongs to, revoked or not (the dashboard's check); None when unknown."""
        return self._table().get(tokens.hash_secret(secret))

    def _presented(self, request: Request) -> tokens.TokenInfo | None:
        header = request.headers.get("authorization")
        if not header:
            return None
        scheme, _, secret = header.partition(" ")
        info = self._table().get(tokens.hash_secret(secret.strip())) if scheme.lower() == "bearer" else None
        if info is None:
            raise HTTPProblem(401, BAD_TOKEN, {"WWW-Authenticate": "Bearer"})
        if info.revoked_at is not None:
            raise HTTPProblem(401, REVOKED_TOKEN.format(label=info.label, at=info.revoked_at),
                              {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return info

    def operator(self, request: Request) -> str:
        """The caller identity for /predict: the token's label, or anonymous while no token exists."""
        info = self._presented(request)
        if info is None:
            host = request.client.host if request.client else "unknown"
            if self._table() or host not in LOOPBACK:  # revoked tokens count: revoking all does not reopen
                raise HTTPProblem(401, NEED_OPERATOR, {"WWW-Authenticate": "Bearer"})
            if (rebound := rebound_origin(request.headers.get("origin"))) is not None:
                raise HTTPProblem(403, rebound)
            return f"anonymous@{host}"
        if info.role != "operator":
            raise HTTPProblem(403, WRONG_ROLE.format(role=info.role, action="request predictions", needed="operator"))
        return info.label

    def auditor(self, request: Request) -> str:
        info = self._presented(request)
        if info is None and (cookie := request.cookies.get(SIGN_IN_COOKIE)):
            info = self._table().get(tokens.hash_secret(cookie))
            if info is not None and info.revoked_at is not None:
                raise SignInNeeded(401, REVOKED_TOKEN.format(label=info.label, at=info.revoked_at))
        if info is None:
            raise SignInNeeded(401, NEED_AUDITOR, {"WWW-Authenticate": "Bearer"})
        if info.role != "auditor":
            raise HTTPProblem(403, WRONG_ROLE.format(role=info.role, action="read the audit endpoints", needed="auditor"))
        return info.label

