"""`/dashboard`: the prediction trail at a glance, server-rendered HTML with plotly charts.

Mounted on the serving app by `install` (an extension of `govflow.web.app.create_app`, which passes its
shared state: the ledger and the token cache of ``/audit``), or on any FastAPI app with
``app.include_router(dashboard_router(ledger))``:

* ``GET /dashboard``: every system, its predictions in the period and its flag counts;
* ``GET /dashboard/{system}``: requests over time by model version, favourable-decision rates by
  sensitive group over time (with Wilson intervals; groups under the policy's ``min_group_size`` shown
  as "too few", not as rates), the groups' rate ratio against the policy bound, the out-of-domain share
  per version, drift per feature from the latest monitoring, true/false-positive rates by group from
  recorded outcomes, exposure by user group and the recommendation anomaly checks for recommenders,
  and the anomaly flags (rules in `govflow.governance.trail.dashboard_data`), each linking to its
  predictions, the monitoring run of its window and its incident. Windows and bounds are
  monitoring's by default (``monitoring.window`` on its grid; the policy in force). Query: ``days``
  (the period's length, default 30), ``end`` (its end, ISO 8601 UTC, default now: an auditor looks
  back at a past period), ``bucket`` (``monitoring``, ``auto``, ``15m``, ``1h``, ``1d`` ...) and
  ``min_n`` (the smallest group judged; default the policy's ``min_group_size``);
* ``GET /dashboard/assets/plotly.min.js``: plotly.js from the installed plotly package. The page
  loads nothing from elsewhere (no CDN); its Content-Security-Policy forbids it too;
* ``GET /`` (on the serving app): redirects to ``/dashboard``.

Access: the dashboard shows decision rates by sensitive group, which is audit information, so it
follows the rule of the ``/audit`` endpoints: an **auditor token, always**, even when serving needs
none. A script sends ``Authorization: Bearer TOKEN``; a person opening the page in a browser gets a
form, posts the token once (``POST /dashboard/login``, the body is never logged) and gets it back
as an HttpOnly, SameSite=Strict cookie (`govflow.web.auth.SIGN_IN_COOKIE`) that ``/audit`` honours
too: one sign-in per browser, never valid for ``/predict``. The token never travels in a URL, so it
cannot end up in an access log or the browser history. plotly.js itself needs no token. A browser
opening an ``/audit`` page without a token gets the same form, back to that page (`SignInNeeded`);
a program keeps the JSON 401.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import plotly
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select

from govflow.governance.access import tokens
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import ModelVersion
from govflow.governance.registry import versions as registry
from govflow.governance.trail import dashboard_data as dd
from govflow.web import dashboard_documents
from govflow.web.auth import SIGN_IN_COOKIE, SignInNeeded
from govflow.web.dashboard_charts import charts
from govflow.web.dashboard_links import flag_links, predictions_url
from govflow.web.pretty import wants_html

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
PLOTLY_URL = "/dashboard/assets/plotly.min.js"
COOKIE = SIGN_IN_COOKIE  # one sign-in for /dashboard and /audit (`govflow.web.auth`)
ROLES = ("auditor",)
CSP = ("default-src 'none'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; form-action 'self'; "
       "base-uri 'none'; frame-ancestors 'none'")
BUCKET_CHOICES = [("monitoring", "as monitoring"), ("auto", "automatic")] + [(v, v) for v in ("5m", "15m", "1h", "6h", "1d", "7d")]
BAD_MIN_N = "min_n: a whole number of decisions from 1 to 1000000 (got {value}), e.g. ?min_n=30"
NEXT_PREFIXES = ("/dashboard", "/audit/")
FLAG_TITLES = {"disparate_impact": "Disparate impact", "rate_shift": "Sudden shift in the positive rate",
               "unapproved_serving": "Serving outside its approval"}
NOT_AUDITOR = "that token is not an auditor token (or is unknown): create one with `govflow token create --role auditor`"
# Bounds of the period asked for: every window, bucket and axis end computed from them stays a valid date.
MAX_DAYS = 36600
EARLIEST_END = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_END = datetime(9000, 1, 1, tzinfo=UTC)
BAD_DAYS = "days: a whole number of days from 1 to {max} (got {days}), e.g. ?days=30"
BAD_END = "end: a date from 1970-01-01 to 9000-01-01 (got '{text}'), e.g. ?end=2026-05-01"

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


def _window_size(bucket: str, start: datetime, end: datetime) -> timedelta | None:
    """The windows asked for: None for monitoring's own, else a duration (``auto``: fitted to the period)."""
    if bucket == "monitoring":
        return None
    try:
        size = dd.auto_bucket(start, end) if bucket == "auto" else dd.parse_duration(bucket)
    except ValueError as e:
        raise HTTPException(422, f"bucket: {e}") from None
    if size > timedelta(days=MAX_DAYS):
        raise HTTPException(422, f"bucket: at most {MAX_DAYS} days (got '{bucket}')")
    return size


def _bucket_text(bucket: timedelta) -> str:
    seconds = int(bucket.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# -- the router --------------------------------------------------------------------------------

def install(app: Any, state: Any) -> None:
    """`govflow.web.app` extension: the dashboard on the serving app, with the same token cache as ``/audit``.

    ``state`` is the app's ``ServeState`` (``.ledger``, and ``.auth.lookup(secret)``: its token or None).
    """
    app.include_router(dashboard_router(state.ledger, authenticate=lambda token: role_of(state.auth.lookup(token))))
    app.add_exception_handler(SignInNeeded, _sign_in_for_browsers)

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        """A person who opens the server's address lands on the dashboard (its sign-in, if needed)."""
        return RedirectResponse("/dashboard", status_code=307)


async def _sign_in_for_browsers(request: Request, exc: Exception) -> Response:
    """/audit without a token: a browser gets the sign-in form (back to the page after), a program its JSON 401."""
    assert isinstance(exc, SignInNeeded)
    if wants_html(request):
        error = str(exc.detail) if request.cookies.get(COOKIE) else None  # a stale cookie: say why it is refused
        answer: Response = SignIn(lambda _: None).page(_here(request), error)
    else:
        answer = Response(json.dumps({"detail": exc.detail}, ensure_ascii=False), exc.status, exc.headers,
                          media_type="application/json")
    answer.headers["Vary"] = "Accept"
    return answer


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
        data = dd.load_dashboard(conn, system, end=until, period=period, with_panels=False)
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
        if not target.startswith(NEXT_PREFIXES) or "//" in target or "\\" in target:
            target = "/dashboard"
        why = refusal(token)
        if why is not None:
            return login_page(target, why)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/",
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
    def system_page(request: Request, system: str, days: int = 30, bucket: str = "monitoring",
                    end: str | None = None, min_n: int | None = None) -> Response:
        if (page := refused(request)) is not None:
            return page
        names = system_names()
        if system not in names:
            raise HTTPException(404, f"no system named '{system}' in the ledger (known: {', '.join(names) or 'none'})")
        period = _days(days)
        if min_n is not None and not 1 <= min_n <= 1_000_000:
            raise HTTPException(422, BAD_MIN_N.format(value=min_n))
        until = _end(end, clock)
        size = _window_size(bucket, until - period, until)
        catalog, titles = _catalog(ledger, system)
        overrides: dict[str, Any] = {"min_group_size": min_n} if min_n is not None else {}
        with ledger.read() as conn:
            data = dd.load_dashboard(conn, system, end=until, period=period, bucket=size, catalog=catalog, **overrides)
        recommender: tuple[Any, ...] = ([], None, None)
        if data.exposure is not None:
            from govflow.web.dashboard_recommender import recommender_flags

            recommender = recommender_flags(ledger, data)
        body = _templates.get_template("dashboard_system.html").render(
            title=system, systems=names, data=data, charts=charts(data, titles), plotly_url=PLOTLY_URL,
            flag_titles=FLAG_TITLES, days=days, end=end or "", buckets=BUCKET_CHOICES, bucket_value=bucket,
            bucket_text=_bucket_text(data.bucket), links_of=lambda flag: flag_links(flag, data),
            predictions_url=predictions_url, recommender=recommender, min_n=min_n or "",
            drift_report=dashboard_documents.latest_report(ledger, system), drift_report_url=f"/dashboard/{system}/drift-report")
        return _html(body)

    dashboard_documents.install(router, ledger, refused)

    return router
