"""`/dashboard`: the prediction trail at a glance, server-rendered HTML with plotly charts.

Mounted on the serving app by `install` (an extension of `govflow.web.app.create_app`, which passes its
shared state: the ledger and the token cache of ``/audit``), or on any FastAPI app with
``app.include_router(dashboard_router(ledger))``:

* ``GET /dashboard``: every system, its predictions in the period and its flag counts;
* ``GET /dashboard/{system}``: requests over time by model version, favourable-decision rates by
  sensitive group over time, the groups' rate ratio against the policy bound, exposure by user group
  for recommenders, and the anomaly flags (rules in `govflow.governance.trail.dashboard_data`). Query: ``days``
  (the period's length, default 30), ``end`` (its end, ISO 8601 UTC, default now: an auditor looks
  back at a past period) and ``bucket`` (``auto``, ``15m``, ``1h``, ``1d`` ...);
* ``GET /dashboard/assets/plotly.min.js``: plotly.js from the installed plotly package. The page
  loads nothing from elsewhere (no CDN); its Content-Security-Policy forbids it too.

Access: the dashboard shows decision rates by sensitive group, which is audit information, so it
follows the rule of the ``/audit`` endpoints: an **auditor token, always**, even when serving needs
none. A script sends ``Authorization: Bearer TOKEN``; a person opening the page in a browser gets a
form, posts the token once (``POST /dashboard/login``, the body is never logged) and gets it back
as an HttpOnly, SameSite=Strict cookie scoped to ``/dashboard``. The token never travels in a URL,
so it cannot end up in an access log or the browser history. plotly.js itself needs no token.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import plotly
import plotly.graph_objects as go
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select

from govflow.governance.access import tokens
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import ModelVersion
from govflow.governance.registry import versions as registry
from govflow.governance.trail import dashboard_data as dd

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
PLOTLY_URL = "/dashboard/assets/plotly.min.js"
COOKIE = "govflow_dashboard"
ROLES = ("auditor",)
CSP = ("default-src 'none'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; form-action 'self'; "
       "base-uri 'none'; frame-ancestors 'none'")
BUCKET_CHOICES = [("auto", "automatic")] + [(v, v) for v in ("5m", "15m", "1h", "6h", "1d", "7d")]
FLAG_TITLES = {"disparate_impact": "Disparate impact", "rate_shift": "Sudden shift in the positive rate",
               "unapproved_serving": "Serving outside its approval"}
NOT_AUDITOR = "that token is not an auditor token (or is unknown): create one with `govflow token create --role auditor`"
# Bounds of the period asked for: every window, bucket and axis end computed from them stays a valid date.
MAX_DAYS = 36600
EARLIEST_END = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_END = datetime(9000, 1, 1, tzinfo=UTC)
BAD_DAYS = "days: a whole number of days from 1 to {max} (got {days}), e.g. ?days=30"
BAD_END = "end: a date from 1970-01-01 to 9000-01-01 (got '{text}'), e.g. ?end=2026-05-01"
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]

_templates = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                         autoescape=select_autoescape(["html"]))


class TokenRefused(Exception):
    """A token the ledger knows but no longer honours; the message says since when and what to do."""


def token_role(ledger: Ledger, token: str) -> str | None:
    """The role of an API token (`govflow.governance.access.tokens`), or None when unknown; `TokenRefused` if revoked."""
    with ledger.read() as conn:
        return role_of(tokens.find_token(conn, token))


def role_of(found: tokens.TokenInfo | None) -> str | None:
    if found is not None and found.revoked_at is not None:
        raise TokenRefused(tokens.REVOKED.format(label=found.label, at=found.revoked_at))
    return None if found is None else str(found.role)


def _html(body: str, status: int = 200, **headers: str) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers={"Content-Security-Policy": CSP,
                                                            "Cache-Control": "no-store", **headers})


def _end(text: str | None, clock: Callable[[], datetime]) -> datetime:
    if not text:
        return clock()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise HTTPException(422, f"end '{text}' is not an ISO 8601 date or time, e.g. 2026-05-01 or 2026-05-01T12:00Z") from None
    try:
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:  # a zone offset that moves it past year 1 or 9999
        moment = EARLIEST_END - timedelta(days=1)
    if not EARLIEST_END <= moment <= LATEST_END:
        raise HTTPException(422, BAD_END.format(text=text))
    return moment


def _days(days: int) -> timedelta:
    """The period's length; bounded so that every date the page computes exists."""
    if not 1 <= days <= MAX_DAYS:
        raise HTTPException(422, BAD_DAYS.format(max=MAX_DAYS, days=days))
    return timedelta(days=days)


def _here(request: Request) -> str:
    """The path and query asked for, to come back to after signing in."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _bucket_text(bucket: timedelta) -> str:
    seconds = int(bucket.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# -- charts ------------------------------------------------------------------------------------

def _layout(fig: go.Figure, y_title: str, **extra: Any) -> go.Figure:
    fig.update_layout(height=360, margin=dict(l=60, r=20, t=20, b=50), template="plotly_white",
                      yaxis_title=y_title, legend=dict(orientation="h", y=-0.2), **extra)
    return fig


def _period(fig: go.Figure, data: dd.DashboardData) -> None:
    """Time charts span the whole period shown, whatever windows hold data."""
    fig.update_xaxes(type="date", range=[data.start, data.end])


def _div(fig: go.Figure, key: str) -> str:
    return str(fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"chart-{key}",
                           config={"displaylogo": False, "responsive": True}))


def charts(data: dd.DashboardData, titles: dict[str, str]) -> list[dict[str, str]]:
    """The page's charts as ``{key, title, note, html}``; none when nothing was served."""
    out: list[dict[str, str]] = []
    if not data.counts:
        return out
    fig = go.Figure()
    for i, version in enumerate(sorted({c.version for c in data.counts})):
        counts = [c for c in data.counts if c.version == version]
        fig.add_bar(x=[c.window + data.bucket / 2 for c in counts], y=[c.requests for c in counts], name=version,
                    width=data.bucket.total_seconds() * 1000 * 0.9, marker_color=PALETTE[i % len(PALETTE)],
                    hovertemplate="%{y} requests")
    _layout(fig, "requests", barmode="stack")
    _period(fig, data)
    out.append({"key": "requests", "title": "Requests over time by model version", "note": "",
                "html": _div(fig, "requests")})
    overall = [r for r in data.rates if not r.attribute]
    for attribute in data.attributes:
        fig = go.Figure()
        groups = sorted({r.group for r in data.rates if r.attribute == attribute})
        for i, group in enumerate(groups):
            points = [r for r in data.rates if r.attribute == attribute and r.group == group]
            fig.add_scatter(x=[r.window for r in points], y=[r.rate for r in points], mode="lines+markers",
                            name=f"{attribute}={group}", line=dict(color=PALETTE[i % len(PALETTE)], width=2),
                            customdata=[r.n for r in points], hovertemplate="%{y:.2f} (n=%{customdata})")
        fig.add_scatter(x=[r.window for r in overall], y=[r.rate for r in overall], mode="lines", name="all",
                        line=dict(color="#555", dash="dot"))
        _layout(fig, "favourable rate", yaxis_range=[0, 1.05])
        _period(fig, data)
        out.append({"key": f"rates-{attribute}", "title": f"Favourable-decision rate by {attribute}",
                    "note": "", "html": _div(fig, f"rates-{attribute}")})
    if data.ratios:
        fig = go.Figure()
        for i, attribute in enumerate(sorted({r.attribute for r in data.ratios})):
            ratios = [r for r in data.ratios if r.attribute == attribute]
            fig.add_scatter(x=[r.window for r in ratios], y=[r.ratio for r in ratios], mode="lines+markers",
                            name=attribute, line=dict(color=PALETTE[i % len(PALETTE)], width=2),
                            marker=dict(size=9, color=["#c0392b" if r.ratio < data.rules.ratio_min
                                                       else PALETTE[i % len(PALETTE)] for r in ratios]))
        fig.add_hline(y=data.rules.ratio_min, line=dict(color="#c0392b", dash="dash"),
                      annotation_text=f"policy bound {data.rules.ratio_min:g}")
        _layout(fig, "lowest / highest group rate", yaxis_range=[0, 1.05])
        _period(fig, data)
        out.append({"key": "ratios", "title": "Rate ratio between groups (disparate impact)",
                    "note": f"Groups with fewer than {data.rules.min_group_size} decisions in a window are not judged.",
                    "html": _div(fig, "ratios")})
    if data.exposure is not None:
        out.extend(_exposure_charts(data, titles))
    return out


def _exposure_charts(data: dd.DashboardData, titles: dict[str, str]) -> list[dict[str, str]]:
    report = data.exposure
    assert report is not None
    out = []
    for attribute in sorted({g.attribute for g in report.groups}):
        groups = [g for g in report.groups if g.attribute == attribute]
        for dimension in report.dimensions or [None]:  # type: ignore[list-item]
            if dimension:
                overall = report.overall.category_shares[dimension]
                keys = sorted(overall, key=lambda c: (-overall[c], c))
                labels = keys
            else:
                keys = report.top_items(10)
                labels = [titles.get(k, k) for k in keys]
            fig = go.Figure()
            for i, g in enumerate(groups):
                shares = g.category_shares.get(dimension, {}) if dimension else g.shares
                fig.add_bar(x=labels, y=[shares.get(k, 0.0) for k in keys], name=f"{attribute}={g.group}",
                            marker_color=PALETTE[i % len(PALETTE)])
            _layout(fig, "share of exposure", barmode="group")
            what = f"item {dimension}" if dimension else "the 10 most exposed items"
            key = f"exposure-{attribute}-{dimension or 'items'}"
            out.append({"key": key, "title": f"Exposure by {attribute}: {what}", "note": "", "html": _div(fig, key)})
    return out


# -- the router --------------------------------------------------------------------------------

def install(app: Any, state: Any) -> None:
    """`govflow.web.app` extension: the dashboard on the serving app, with the same token cache as ``/audit``.

    ``state`` is the app's ``ServeState`` (``.ledger``, and ``.auth.lookup(secret)``: its token or None).
    """
    app.include_router(dashboard_router(state.ledger, authenticate=lambda token: role_of(state.auth.lookup(token))))


def _catalog(ledger: Ledger, system: str) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The newest version's item catalogue (recommenders register one), as categories and titles."""
    with ledger.read() as conn:
        ids = conn.execute(select(ModelVersion.id).where(ModelVersion.system == system)
                           .order_by(ModelVersion.version.desc())).scalars().all()
    for mv_id in ids:
        raw = registry.attachment(ledger, mv_id, "item_catalog")
        if raw is not None:
            items = json.loads(raw)["items"]
            return ({k: item.get("categories", {}) for k, item in items.items()},
                    {k: str(item.get("title", k)) for k, item in items.items()})
    return None, {}


class SignIn:
    """Who may read the dashboard: an auditor token, from the Authorization header or the sign-in cookie.

    ``check`` maps a raw token to its role (None: unknown; `TokenRefused`: revoked).
    """

    def __init__(self, check: Callable[[str], str | None]) -> None:
        self.check = check

    def refusal(self, token: str | None) -> str | None:
        """None when the token may read the dashboard, else why not (for the sign-in page)."""
        if not token:
            return NOT_AUDITOR
        try:
            return None if self.check(token) in ROLES else NOT_AUDITOR
        except TokenRefused as e:
            return str(e)

    def refused(self, request: Request) -> HTMLResponse | None:
        """The sign-in page when the request's token (header or cookie) may not read the dashboard."""
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else request.cookies.get(COOKIE)
        why = self.refusal(token)
        if why is None:
            return None
        return self.page(_here(request), why if token else None)

    def page(self, path: str, error: str | None = None) -> HTMLResponse:
        body = _templates.get_template("dashboard_login.html").render(
            title="sign in", systems=[], charts=[], next=path, error=error)
        return _html(body, 401, **{"WWW-Authenticate": 'Bearer realm="govflow audit"'})


def _index_row(ledger: Ledger, system: str, until: datetime, period: timedelta) -> dict[str, Any]:
    """One system's line on ``/dashboard``: its predictions in the period and its flag counts."""
    with ledger.read() as conn:
        data = dd.load_dashboard(conn, system, end=until, period=period)
    return {"system": system, "total": data.total,
            "production": next((v.label for v in data.versions if v.stage == "production"), None),
            "critical": sum(f.severity == "critical" for f in data.flags),
            "warning": sum(f.severity == "warning" for f in data.flags)}


def dashboard_router(ledger: Ledger, *, authenticate: Callable[[str], str | None] | None = None,
                     clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> APIRouter:
    """The dashboard's routes over one ledger.

    ``authenticate`` maps a raw token to its role (None: unknown; `TokenRefused`: revoked); it
    should be the one the ``/audit`` endpoints use. The default reads the token table per request.
    """
    router = APIRouter(tags=["dashboard"])
    sign_in = SignIn(authenticate or (lambda token: token_role(ledger, token)))
    refusal, refused, login_page = sign_in.refusal, sign_in.refused, sign_in.page

    def system_names() -> list[str]:
        with ledger.read() as conn:
            return dd.systems(conn)

    @router.get(PLOTLY_URL, include_in_schema=False)
    def plotly_js() -> FileResponse:
        return FileResponse(PLOTLY_JS, media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})

    @router.post("/dashboard/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        token = (form.get("token") or [""])[0].strip()
        target = (form.get("next") or ["/dashboard"])[0]
        if not target.startswith("/dashboard") or "//" in target:
            target = "/dashboard"
        why = refusal(token)
        if why is not None:
            return login_page(target, why)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/dashboard",
                            secure=request.url.scheme == "https")
        return response

    @router.get("/dashboard", response_class=HTMLResponse, summary="All systems, with their flag counts")
    def index(request: Request, days: int = 30, end: str | None = None) -> Response:
        if (page := refused(request)) is not None:
            return page
        period, until = _days(days), _end(end, clock)
        names = system_names()
        rows = [_index_row(ledger, name, until, period) for name in names]
        body = _templates.get_template("dashboard_index.html").render(
            title="dashboard", systems=names, charts=[], rows=rows, days=days, end=end or "")
        return _html(body)

    @router.get("/dashboard/{system}", response_class=HTMLResponse,
                summary="One system's requests, group rates, exposure and anomaly flags")
    def system_page(request: Request, system: str, days: int = 30, bucket: str = "auto",
                    end: str | None = None) -> Response:
        if (page := refused(request)) is not None:
            return page
        names = system_names()
        if system not in names:
            raise HTTPException(404, f"no system named '{system}' in the ledger (known: {', '.join(names) or 'none'})")
        period = _days(days)
        try:
            size = None if bucket == "auto" else dd.parse_duration(bucket)
        except ValueError as e:
            raise HTTPException(422, f"bucket: {e}") from None
        if size is not None and size > timedelta(days=MAX_DAYS):
            raise HTTPException(422, f"bucket: at most {MAX_DAYS} days (got '{bucket}')")
        until = _end(end, clock)
        catalog, titles = _catalog(ledger, system)
        with ledger.read() as conn:
            data = dd.load_dashboard(conn, system, end=until, period=period, bucket=size,
                                     catalog=catalog)
        body = _templates.get_template("dashboard_system.html").render(
            title=system, systems=names, data=data, charts=charts(data, titles), plotly_url=PLOTLY_URL,
            flag_titles=FLAG_TITLES, days=days, end=end or "", buckets=BUCKET_CHOICES, bucket_value=bucket,
            bucket_text=_bucket_text(data.bucket))
        return _html(body)

    return router
