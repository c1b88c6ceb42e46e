"""Search the prediction log: every filter an auditor or a data scientist asks the trail.

`PredictionQuery` holds the filters (system, model version, time range, decision, score range,
sensitive groups, subject id, request id, recommended item, recommender user), `parse_query` builds
one from text (the CLI's options, the ``/audit/predictions`` query string) with an error per bad
value that says how to write it, and `search_predictions` answers one page, newest first, with a
cursor for the next page (keyset pagination on ``(served_at, id)``: a page costs the same at the
millionth row as at the first, and rows logged meanwhile never shift a page).

The filters on what a prediction answered (``output_json``) and on its payload (``features_json``,
``sensitive_json``) read the canonical JSON text in place (`search_sql`: every row, including those
PostgreSQL's ``jsonb`` refuses; the expressions migrations 0008 and 0010 index). The payload filters
join ``prediction_payloads``: a purged payload no longer matches a group, a subject or a user, which
is what erasure means. PostgreSQL reads a page newest first along a time index (a common value meets
its matches at once), or, when a sample of the table says an indexed condition (item, out-of-domain
field, score range, group ``=``, user) matches fewer than `FEW` rows, from that index, then sorts.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, text

from govflow import canonical as canon
from govflow.errors import InputError
from govflow.governance.ledger.schema import UTCDateTime
from govflow.governance.trail.search_plan import FEW as FEW
from govflow.governance.trail.search_plan import index_first as index_first
from govflow.governance.trail.search_plan import rare
from govflow.governance.trail.search_scope import check_recorded
from govflow.governance.trail.search_sql import ANY as ANY
from govflow.governance.trail.search_sql import NUL, WhereClause
from govflow.governance.trail.search_sql import GroupFilter as GroupFilter
from govflow.governance.trail.search_walk import DEFAULT_BUDGET, Budget, chunk_statement, encode_cursor, walk
from govflow.governance.trail.search_walk import parse_budget as parse_budget

MAX_LIMIT = 1000
OPERATORS = ("<=", ">=", "!=", "=", "<", ">")  # longest first: "<=" is not "<" then "=..."
BAD_TIME = "{name}: an RFC 3339 time with a zone, e.g. 2026-01-31T00:00:00Z, not '{value}'"
BAD_LIMIT = "limit: between 1 and {max}, not {value}"
BAD_NUMBER = "{name}: '{value}' is not a number"
BAD_DECISION = "decision: '{value}' is not 0, 1, favourable or unfavourable"
BAD_GROUP = ("group: '{value}' is not NAME=VALUE (or NAME<VALUE, <=, >, >=, !=), e.g. "
             "personal_status_and_sex=A92 or age_in_years<25")
NOT_A_NUMBER_GROUP = "group: '{value}': {op} compares numbers, and '{given}' is not one"
VERSION_NEEDS_SYSTEM = "version: give the system too (--system NAME): version numbers count per system"
BAD_VERSION = "version: '{value}' is not a version number (1, 2, ...)"
BAD_CURSOR = "cursor: not a cursor this search returned (copy next_cursor from the previous page)"
EMPTY_RANGE = "{low_name} {low} is above {high_name} {high}: nothing can match; swap them"

_COLUMNS = ("id", "request_id", "system", "model_version_id", "output_json", "latency_ms", "served_at", "caller",
            "payload_hash", "audit_seq")


@dataclass(frozen=True)
class PredictionQuery:
    """The filters of one search; every one optional, all of them must hold."""

    system: str | None = None
    version: int | None = None  # the system's version number (needs ``system``)
    model_version_id: str | None = None  # resolved from ``version``, or given as it is
    since: datetime | None = None  # served at or after
    until: datetime | None = None  # served before
    decision: int | None = None  # 1 = the favourable outcome, 0 = not
    score_min: float | None = None  # score >= this
    score_max: float | None = None  # score <= this
    groups: tuple[GroupFilter, ...] = ()
    subject_id: str | None = None
    request_id: str | None = None
    item: str | None = None  # a recommender's list contains this item
    user: str | None = None  # a recommender's user (its logged ``user_id`` feature)
    out_of_domain: str | None = None  # a field serving flagged out of domain, or "any"
    limit: int = 100
    cursor: str | None = None

    def needs_payload(self) -> bool:
        return bool(self.groups or self.subject_id is not None or self.user is not None)


@dataclass(frozen=True)
class SearchPage:
    """One page of matches, newest first, and the cursor of the next page (None on the last)."""

    predictions: list[dict[str, Any]]
    next_cursor: str | None
    filters: dict[str, Any] = field(default_factory=dict)
    searched_back_to: str | None = None  # set when the page's budget ran out first: where it stopped

    @property
    def partial(self) -> bool:
        return self.searched_back_to is not None

    def to_dict(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"predictions": self.predictions, "next_cursor": self.next_cursor, "filters": self.filters}
        if self.partial:
            shown.update(partial=True, searched_back_to=self.searched_back_to, cursor=self.next_cursor)
        return shown


def parse_time(name: str, value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        if moment.tzinfo is None:
            raise ValueError("no time zone")
        return moment.astimezone(UTC)  # past year 1 or 9999 in UTC is no time
    except (ValueError, OverflowError):
        raise InputError(BAD_TIME.format(name=name, value=value)) from None


def _number(name: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise InputError(BAD_NUMBER.format(name=name, value=value)) from None
    if not math.isfinite(number):
        raise InputError(BAD_NUMBER.format(name=name, value=value))
    return number


def _json_scalar(text_value: str) -> str | int | float:
    """``23`` -> 23, ``0.5`` -> 0.5, anything else stays text (how the value was logged)."""
    try:
        return int(text_value)
    except ValueError:
        pass
    try:
        number = float(text_value)
        return number if math.isfinite(number) else text_value
    except ValueError:
        return text_value


def parse_group(value: str) -> GroupFilter:
    for op in OPERATORS:
        name, sep, given = value.partition(op)
        if sep and name.strip() and given.strip() and not any(o in name for o in "<>!="):
            scalar = _json_scalar(given.strip())
            if op in ("<", "<=", ">", ">=") and isinstance(scalar, str):
                raise InputError(NOT_A_NUMBER_GROUP.format(value=value, op=op, given=given.strip()))
            return GroupFilter(name.strip(), op, scalar)
    raise InputError(BAD_GROUP.format(value=value))


def parse_decision(value: str) -> int:
    known = {"1": 1, "0": 0, "favourable": 1, "unfavourable": 0, "true": 1, "false": 0}
    if value.strip().lower() not in known:
        raise InputError(BAD_DECISION.format(value=value))
    return known[value.strip().lower()]


def parse_query(params: Mapping[str, Any]) -> PredictionQuery:
    """From text values (absent or None = no filter); `InputError` names the bad one and its fix."""
    def get(name: str) -> str | None:
        value = params.get(name)
        return None if value is None or value == "" else str(value)

    version = get("version")
    if version is not None and not (version.isascii() and version.isdigit() and len(version) < 10):
        raise InputError(BAD_VERSION.format(value=version))
    if version is not None and get("system") is None:
        raise InputError(VERSION_NEEDS_SYSTEM)
    limit_text = get("limit") or "100"
    try:
        limit = int(limit_text)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise InputError(BAD_LIMIT.format(value=limit_text, max=MAX_LIMIT))
    since, until = (parse_time(n, v) if (v := get(n)) else None for n in ("since", "until"))
    if since and until and since > until:
        raise InputError(EMPTY_RANGE.format(low_name="since", low=get("since"), high_name="until", high=get("until")))
    score_min, score_max = (_number(n, v) if (v := get(n)) else None for n in ("score_min", "score_max"))
    if score_min is not None and score_max is not None and score_min > score_max:
        raise InputError(EMPTY_RANGE.format(low_name="score_min", low=score_min, high_name="score_max", high=score_max))
    groups = params.get("group") or ()
    if isinstance(groups, str):
        groups = [groups]
    cursor = get("cursor")
    if cursor is not None:
        _decode_cursor(cursor)
    decision = get("decision")
    return PredictionQuery(
        system=get("system"), version=int(version) if version else None, model_version_id=get("model_version_id"),
        since=since, until=until, decision=parse_decision(decision) if decision is not None else None,
        score_min=score_min, score_max=score_max, groups=tuple(parse_group(g) for g in groups if g),
        subject_id=get("subject_id"), request_id=get("request_id"), item=get("item"), user=get("user"),
        out_of_domain=get("out_of_domain"),
        limit=limit, cursor=cursor)


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        moment, prediction_id = json.loads(raw)
        return parse_time("cursor", moment), str(prediction_id)
    except (ValueError, TypeError, InputError):
        raise InputError(BAD_CURSOR) from None


def _where(query: PredictionQuery, sql: WhereClause) -> None:
    plain = (("p.system", query.system), ("p.model_version_id", query.model_version_id),
             ("p.request_id", query.request_id))
    for column, value in plain:
        if value is not None and column == _leading_column(query, sql):
            # as a range, not an equality: the planner keeps it in the order asked (see `_leading_column`)
            sql.where.append(f"{column} >= {sql.param(value)} AND {column} <= {sql.param(value)}")
        elif value is not None:
            sql.equals(column, value)
    if query.subject_id is not None:
        sql.subject(query.subject_id)
    for clause, moment in (("p.served_at >= {}", query.since), ("p.served_at < {}", query.until)):
        if moment is not None:
            sql.where.append(clause.format(_time_param(sql, moment)))
    if query.decision is not None:
        sql.decision(query.decision)
    if query.score_min is not None or query.score_max is not None:
        sql.score(query.score_min, query.score_max)
    for group in query.groups:
        sql.group(group)
    if query.item is not None:
        sql.item(query.item)
    if query.user is not None:
        sql.user(query.user)
    if query.out_of_domain is not None:
        sql.out_of_domain(query.out_of_domain)
    if query.cursor is not None:
        at, last_id = _decode_cursor(query.cursor)
        at_param = _time_param(sql, at)
        sql.where.append(f"(p.served_at < {at_param} OR (p.served_at = {at_param} AND p.id < {sql.param(last_id)}))")
    sql.where.append("p.audit_seq IS NOT NULL")  # only what the chain covers (see ledger.chained)


def _leading_column(query: PredictionQuery, sql: WhereClause) -> str | None:
    """PostgreSQL: the version (else the system) asked for leads the order, so that only its
    ``(column, served_at)`` index gives the order and the planner takes it. With an equality the planner
    drops the column from the order and, taking matches as spread evenly over time, may walk the time
    index from the newest row: for an old version, every newer row first (1.3 s at a million rows
    instead of half a millisecond). Not with a time range: bounded, the time index serves it well
    (last week's refusals of a system: 0.42 s median at 200,000 rows led by the system, 0.06 s at a
    million rows not)."""
    if not sql.pg or query.since is not None or query.until is not None:
        return None
    for column, value in (("p.model_version_id", query.model_version_id), ("p.system", query.system)):
        if value is not None and NUL not in value:
            return column
    return None


def _time_param(sql: WhereClause, moment: datetime) -> str:
    return sql.param(moment)  # bound as a ledger timestamp in `search_predictions` (it is a datetime)


def resolve_version(conn: Connection, query: PredictionQuery) -> PredictionQuery:
    """The query with ``version`` turned into its model version id (`InputError` if unknown)."""
    if query.version is None or query.system is None:
        return query
    from dataclasses import replace

    from govflow.governance.registry.versions import resolve

    ref = resolve(conn, f"{query.system}:{query.version}")
    return replace(query, model_version_id=ref.id)


def statement_for(conn: Connection, query: PredictionQuery, *, prefix: str = "",
                  walk: bool = False) -> tuple[Any, dict[str, Any]]:
    """The SQL of one page and its parameters (``prefix``, e.g. ``EXPLAIN``, goes in front). ``walk``:
    in time order even when an indexed condition looks rare (`search_predictions`, when it was not)."""
    query = resolve_version(conn, query)
    sql = WhereClause(conn.dialect.name)
    _where(query, sql)
    join = " JOIN prediction_payloads pp ON pp.payload_hash = p.payload_hash" if query.needs_payload() else ""
    columns = ", ".join("p." + c for c in _COLUMNS)
    if not walk and (sql.narrow or sql.narrow_payload) and rare(conn, sql):
        # Asked newest first, the planner walks the time index hoping to meet matches soon; for a rare
        # item, score range, group or user (none at all: every row) the index of the condition finds
        # them at once: read them whole (materialised: no order asked, so the planner takes that index;
        # at most FEW, and how many, so that `search_predictions` walks after all if FEW were found).
        sql_text = (f"{prefix}WITH hits AS MATERIALIZED (SELECT {columns} FROM predictions p{join} "
                    f"WHERE {' AND '.join(sql.where)} LIMIT {FEW}) SELECT *, (SELECT count(*) FROM hits) AS hits "
                    f"FROM hits p ORDER BY p.served_at DESC, p.id DESC LIMIT {query.limit + 1}")
    else:
        leading = _leading_column(query, sql)
        lead = f"{leading} DESC, " if leading else ""
        sql_text = (f"{prefix}SELECT {columns} FROM predictions p{join} WHERE {' AND '.join(sql.where)} "
                    f"ORDER BY {lead}p.served_at DESC, p.id DESC LIMIT {query.limit + 1}")
    binds = [bindparam(n, type_=UTCDateTime()) for n, v in sql.params.items() if isinstance(v, datetime)]
    statement = text(sql_text).bindparams(*binds)
    return (statement if prefix else statement.columns(served_at=UTCDateTime())), sql.params


def search_predictions(conn: Connection, query: PredictionQuery, *, budget: Budget | None = DEFAULT_BUDGET) -> SearchPage:
    """One page of the predictions matching every filter, newest first (without their inputs). A walk
    that spends ``budget`` (None: no bound) first answers in part (`SearchPage.partial`, `search_walk`)."""
    asked, query = query, resolve_version(conn, query)
    check_recorded(conn, query.system, query.model_version_id, query.groups)
    stopped_at = None
    with index_first(conn):
        statement, params = statement_for(conn, query)
        rows = [dict(r) for r in conn.execute(statement, params).mappings()] if _is_rare_read(statement) else None
        if rows is None or (rows and rows[0].get("hits", 0) >= FEW):  # not rare: newest first, bounded
            walked = walk(conn, query, budget, lambda q, n, want: _chunk(conn, q, n, want))
            rows, stopped_at = walked.rows, walked.stopped_at
    names = _version_names(conn, {r["model_version_id"] for r in rows})
    page = [_shown(r, names) for r in rows[: query.limit]]
    last = rows[query.limit - 1] if len(rows) > query.limit else None
    if stopped_at is not None:
        return SearchPage(page, encode_cursor(*stopped_at), describe(asked), canon.format_ts(stopped_at[0]))
    return SearchPage(page, encode_cursor(last["served_at"], last["id"]) if last is not None else None,
                      describe(asked))


def _is_rare_read(statement: Any) -> bool:
    return "WITH hits AS" in str(statement)


def _chunk(conn: Connection, query: PredictionQuery, rows: int, want: int) -> tuple[Any, dict[str, Any]]:
    """One chunk of the walk: the index-ordered conditions select the rows, the others keep them."""
    from dataclasses import replace

    sql = WhereClause(conn.dialect.name)
    _where(replace(query, decision=None, score_min=None, score_max=None, groups=(), subject_id=None, item=None,
                   user=None, out_of_domain=None), sql)
    inner, sql.where = sql.where, []
    _where(query, sql)
    join = " JOIN prediction_payloads pp ON pp.payload_hash = p.payload_hash" if query.needs_payload() else ""
    leading = _leading_column(query, sql)
    statement = chunk_statement(sql, inner, sql.where, columns=list(_COLUMNS), join=join,
                                lead=f"{leading} DESC, " if leading else "", rows=rows, want=want)
    return statement, sql.params


def _version_names(conn: Connection, ids: set[str]) -> dict[str, str]:
    """NAME:VERSION of each model version id (one indexed query per page)."""
    from sqlalchemy import select

    from govflow.governance.ledger.schema import ModelVersion

    if not ids:
        return {}
    found = conn.execute(select(ModelVersion.id, ModelVersion.system, ModelVersion.version)
                         .where(ModelVersion.id.in_(sorted(ids))))
    return {mv: f"{system}:{number}" for mv, system, number in found}


def _shown(row: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    return {"id": row["id"], "request_id": row["request_id"], "system": row["system"],
            "model_version": names.get(row["model_version_id"]), "model_version_id": row["model_version_id"], "output": json.loads(row["output_json"]),
            "served_at": canon.format_ts(row["served_at"]), "caller": row["caller"],
            "latency_ms": row["latency_ms"], "payload_hash": row["payload_hash"], "audit_seq": row["audit_seq"]}


def describe(query: PredictionQuery) -> dict[str, Any]:
    """The filters in force, as given (for the answer, and the audit log of who asked what)."""
    shown: dict[str, Any] = {}
    for name in ("system", "version", "model_version_id", "decision", "score_min", "score_max", "subject_id",
                 "request_id", "item", "user", "out_of_domain"):
        value = getattr(query, name)
        if value is not None:
            shown[name] = value
    for name in ("since", "until"):
        moment = getattr(query, name)
        if moment is not None:
            shown[name] = canon.format_ts(moment)
    if query.groups:
        shown["group"] = [str(g) for g in query.groups]
    return shown


def iterate(conn: Connection, query: PredictionQuery, *, pages: int | None = None,
            budget: Budget | None = DEFAULT_BUDGET) -> Sequence[dict[str, Any]]:
    """Every match (page after page, a partial one continued), for the CLI's ``--all``; ``pages`` bounds how many."""
    from dataclasses import replace

    found: list[dict[str, Any]] = []
    count = 0
    while True:
        page = search_predictions(conn, query, budget=budget)
        found += page.predictions
        count += 1
        if page.next_cursor is None or (pages is not None and count >= pages):
            return found
        query = replace(query, cursor=page.next_cursor)
