"""JSON for programs, readable JSON for people: the same answer, formatted when a browser asks.

A browser sends ``Accept: text/html,...``; an API client (curl, httpx, requests) sends ``*/*`` or
``application/json``. `for_reader` gives the browser an HTML page with the JSON indented, its
links to other ``/audit`` and ``/dashboard`` pages clickable, and leaves the answer to API clients
as it was (FastAPI serialises the mapping as JSON).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
_LOCAL_PATH = re.compile(r"&quot;(/(?:audit|dashboard)/[^&\s]*)&quot;")


def wants_html(request: Request) -> bool:
    """True when the client ranks HTML first (a browser opening the page), not for ``*/*`` or JSON."""
    accept = request.headers.get("accept", "")
    first = accept.split(",", 1)[0].split(";", 1)[0].strip().lower()
    return first in ("text/html", "application/xhtml+xml")


def page(title: str, data: Any) -> HTMLResponse:
    """``data`` as indented JSON in a small self-contained page (no script, nothing fetched)."""
    text = html.escape(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    text = _LOCAL_PATH.sub(lambda m: f'&quot;<a href="{m.group(1)}">{m.group(1)}</a>&quot;', text)
    body = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)} · govflow</title>"
            "<style>body{font-family:system-ui,sans-serif;margin:1rem 2rem;color:#1d2330}"
            "pre{background:#f6f8fa;padding:1rem;border:1px solid #d0d5dd;white-space:pre-wrap;"
            "word-break:break-word;font-size:.85rem}</style></head><body>"
            f"<p><a href='/dashboard'>dashboard</a></p><h1>{html.escape(title)}</h1><pre id='json'>{text}</pre>"
            "</body></html>")
    return HTMLResponse(body, headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store", "Vary": "Accept"})


def for_reader(request: Request, title: str, data: Mapping[str, Any]) -> Any:
    """The HTML page when a browser asks, else ``data`` itself (JSON)."""
    return page(title, data) if wants_html(request) else data
