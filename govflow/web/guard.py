"""What reaches the routes of `govflow serve`: checks made on every request before a route runs.

`RequestGuard` is a plain ASGI middleware (no per-request objects beyond a closure, so the
prediction path keeps its speed):

* the body limit is enforced **while the body arrives**: a ``Content-Length`` over the limit is
  answered 413 before a byte of the body is read, and a chunked body is counted as its chunks come
  in and answered 413 (connection closed) as soon as it passes the limit, so no request can make
  the server hold more than the limit in memory;
* a state-changing request (any method but GET, HEAD and OPTIONS) sent by a web page of another
  site is refused (403): ``Sec-Fetch-Site: cross-site`` or ``same-site``, or an ``Origin`` that is
  not the server's own (``scheme://Host``). A browser always sends these on such requests, so no
  page elsewhere can make a visitor's browser record predictions or sign in to the dashboard;
* a NUL character in the path or query (``%00``) is refused (400): PostgreSQL cannot even compare
  text holding one.

`json_content_type` is the check of ``POST /predict`` itself (415 for anything but JSON): an HTML
form or a "simple" cross-origin request cannot send ``application/json``, so, with the check
above, a page cannot post predictions even to a server that has no token yet.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOO_LARGE = "the request body is over {limit} bytes: split the batch"
CROSS_SITE = ("cross-site request refused: {why}. A page of another site may not send requests that change state "
              "(predictions, sign-in); call the API from a program, or from pages served by this server")
NUL = "NUL characters (%00) are not allowed in the path or query"
NOT_JSON_TYPE = ("send the records as JSON with Content-Type: application/json (got {got}); "
                 "other content types are refused so that no web form can post predictions")


class BodyTooLarge(Exception):
    """Raised by the counting ``receive`` when a body passes the limit; answered 413 by `RequestGuard`."""


def json_content_type(content_type: str | None) -> str | None:
    """None when ``content_type`` is JSON (``application/json``, parameters allowed), else why not."""
    if content_type is not None and content_type.split(";", 1)[0].strip().lower() == "application/json":
        return None
    return NOT_JSON_TYPE.format(got=f"'{content_type}'" if content_type else "none")


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value  # type: ignore[no-any-return]
    return None


def cross_site(scope: Scope) -> str | None:
    """Why a state-changing request comes from a page of another site, or None when it does not."""
    site = origin = host = None
    for key, value in scope["headers"]:
        if key == b"sec-fetch-site":
            site = value
        elif key == b"origin":
            origin = value
        elif key == b"host":
            host = value
    if site in (b"cross-site", b"same-site"):
        return f"Sec-Fetch-Site is {site.decode('latin-1')}"  # type: ignore[union-attr]
    if origin is None:
        return None
    own = f"{scope.get('scheme', 'http')}://".encode() + (host or b"")
    if origin.lower() != own.lower():
        return f"Origin {origin.decode('latin-1')} is not this server ({own.decode('latin-1')})"
    return None


async def answer(send: Send, status: int, detail: str, *, close: bool = False) -> None:
    """A JSON problem answer, as the app's own (``{"detail": ...}``)."""
    body = json.dumps({"detail": detail}, ensure_ascii=False).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestGuard:
    """The ASGI middleware described in the module docstring."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or b"%00" in scope["query_string"]:
            await answer(send, 400, NUL)
            return
        if scope["method"] not in SAFE_METHODS:
            why = cross_site(scope)
            if why is not None:
                await answer(send, 403, CROSS_SITE.format(why=why))
                return
            length = _header(scope, b"content-length")
            if length is not None and length.isdigit() and int(length) > self.max_body:
                await answer(send, 413, TOO_LARGE.format(limit=self.max_body), close=True)
                return
        try:
            await self.app(scope, self._counting(receive), send)
        except BodyTooLarge:
            # Raised only by a read of the body, which every route completes before it answers.
            await answer(send, 413, TOO_LARGE.format(limit=self.max_body), close=True)

    def _counting(self, receive: Receive) -> Receive:
        received = 0
        limit = self.max_body

        async def counting() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge()
            return message

        return counting


REBOUND = ("a page at {host} asked for a prediction: while no token exists, serve answers only pages of 127.0.0.1 "
           "or localhost (another site's name may resolve to this machine); create an operator token "
           "(`govflow token create --role operator`) to serve callers elsewhere")
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})


def rebound_origin(origin: str | None) -> str | None:
    """For an anonymous caller (no token exists yet): why its page's ``Origin`` is refused, or None.

    `cross_site` lets a page talk to its own origin; a page of another site whose name was made to
    resolve to 127.0.0.1 (DNS rebinding) is its own origin too, so anonymous callers must be pages
    of a loopback name (or programs, which send no ``Origin``)."""
    if origin is None:
        return None
    host = origin.partition("://")[2].lower()
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return None if name in LOOPBACK_NAMES else REBOUND.format(host=host)


# A JSON escape that may stand for a NUL or half a surrogate pair; only bodies holding one are walked.
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|d[89a-f][0-9a-f]{2})", re.IGNORECASE)
BAD_TEXT = ("the request body holds a string with {what} at {where}: text must be valid Unicode without NUL "
            "characters (it is stored, hashed and compared as UTF-8)")


def bad_text(body: bytes, data: Any) -> str | None:
    """Why a parsed body's text cannot be stored (a NUL, or a lone surrogate such as ``"\\ud800"``), or None.

    ``json.loads`` accepts both, but neither encodes as UTF-8 for hashing (lone surrogates) nor fits
    in a PostgreSQL text column (NUL). Bodies without such an escape (nearly all) are not walked."""
    if _SUSPECT_ESCAPE.search(body) is None:
        return None
    stack: list[tuple[Any, str]] = [(data, "body")]
    while stack:
        value, where = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                stack.append((key, f"{where} (a key)"))
                stack.append((item, f"{where}.{key}" if isinstance(key, str) and key.isprintable() else where))
        elif isinstance(value, list):
            stack.extend((item, f"{where}[{i}]") for i, item in enumerate(value))
        elif isinstance(value, str):
            if "\x00" in value:
                return BAD_TEXT.format(what="a NUL character", where=where)
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return BAD_TEXT.format(what="an unpaired surrogate (\\ud800-\\udfff)", where=where)
    return None
