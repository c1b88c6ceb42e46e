"""The WHERE clause of a prediction search, in each dialect's JSON functions (see `search`).

The filters on what a prediction answered (``output_json``) and on its payload (``features_json``,
``sensitive_json``) read the canonical JSON text in place.

PostgreSQL: ``jsonb`` refuses a ``\\u0000`` in a text value, which the canonical JSON allows (an own
service's answer, a caller's input), so a plain ``::jsonb`` cast fails the whole search as soon as one
such row is read. Every cast here goes through `nul_safe`: the six characters ``\\u0000`` of the JSON
text become ``\\ufffd`` (U+FFFD, the replacement character) first, which never fails and changes
nothing else. A value searched for is put through the same change (`_pg_text`, `_pg_json`), so a
value with a NUL still finds its rows (and, the one ambiguity, a U+FFFD in its place too). Migration
0008 indexes these very expressions (items, out-of-domain fields, score, a recommender's user), and
0010 the sensitive groups, so the planner uses them; a test holds the two together through the plan.

SQLite's ``json_extract`` and ``json_each`` cut a text value at a NUL, so a value with a NUL is
compared as JSON text instead (``->``, which keeps its escapes), against its canonical form.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from govflow import canonical as canon

NUL = "\x00"
ANY = "any"  # --out-of-domain any: flagged on any field


@dataclass(frozen=True)
class GroupFilter:
    """One condition on a sensitive attribute as logged: ``name op value`` (``=``/``!=`` on the JSON
    value, numbers or text; ``<``, ``<=``, ``>``, ``>=`` on numbers)."""

    name: str
    op: str
    value: str | int | float

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.value}"


def nul_safe(column: str) -> str:
    """``column`` (canonical JSON text) as ``jsonb``, for any row (see the module docstring)."""
    return f"replace({column}, '\\u0000', '\\ufffd')::jsonb"


def has_key(column: str, key: str) -> str:
    """The predicate of migration 0008's partial indexes: the JSON text names ``key`` (cheap, no parse)."""
    return f"strpos({column}, '\"{key}\":') > 0"


OUTPUT = f"({nul_safe('p.output_json')})"
SENSITIVE = f"({nul_safe('pp.sensitive_json')})"
# Migration 0008's expressions, as the search writes them (the index's own are on the bare columns).
PG_SCORE = f"({OUTPUT} -> 'score')"
PG_USER = f"({nul_safe('pp.features_json')} ->> 'user_id')"
# A decision: ``favourable`` (the served record's shape since #16, whose ``decision`` is the class label,
# which may itself be 0 or 1), else an earlier record's ``decision`` 0/1 (or a boolean);
# as `govflow.governance.trail.decisions.favourable_of` reads it.
# (a simple CASE parses its operand once: one parse of the JSON per key, not one per comparison)
PG_DECISION = ("COALESCE(" + ", ".join(f"CASE {OUTPUT} -> '{key}' WHEN '1' THEN 1 WHEN 'true' THEN 1 WHEN '0' THEN 0 "
                                       "WHEN 'false' THEN 0 END" for key in ("favourable", "decision")) + ")")
SQLITE_DECISION = ("COALESCE(" + ", ".join(
    f"CASE WHEN json_extract(p.output_json, '$.{key}') IN (0, 1) THEN json_extract(p.output_json, '$.{key}') END"
    for key in ("favourable", "decision")) + ")")


def _pg_text(value: str) -> str:
    return value.replace(NUL, "\ufffd")


def _pg_json(value: Any) -> str:
    return json.dumps(value).replace("\\u0000", "\\ufffd")


def _canonical(value: Any) -> str:
    return canon.canonical(value).decode("utf-8")


class WhereClause:
    """The conditions of one search, in the dialect's JSON functions, with their bound parameters."""

    def __init__(self, dialect: str) -> None:
        self.pg = dialect == "postgresql"
        self.where: list[str] = []
        self.params: dict[str, Any] = {}
        # PostgreSQL: the conditions one of migration 0008's (or 0010's, on the payload) indexes answers
        # (see `search.statement_for`)
        self.narrow: list[str] = []
        self.narrow_payload: list[str] = []

    def param(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def equals(self, column: str, value: Any) -> None:
        if self.pg and isinstance(value, str) and NUL in value:
            self.where.append("FALSE")  # a PostgreSQL text column cannot hold a NUL: nothing matches
        else:
            self.where.append(f"{column} = {self.param(value)}")

    def subject(self, subject_id: str) -> None:
        """The payload names this subject: its id, or the id sent beside an id column (migration 0009),
        as erasure finds a subject's records."""
        if self.pg and NUL in subject_id:
            self.where.append("FALSE")  # a PostgreSQL text column cannot hold a NUL: nothing matches
            return
        given = self.param(subject_id)
        self.where.append(f"(pp.subject_id = {given} OR pp.subject_id_sent = {given})")
        if self.pg:  # both columns indexed (0009): read from them, not walked
            self.narrow_payload.append(self.where[-1])

    def score(self, low: float | None, high: float | None) -> None:
        """``low <= score <= high`` (either bound may be None), numbers only."""
        if not self.pg:
            for op, bound in ((">=", low), ("<=", high)):
                if bound is not None:
                    self.where.append(f"json_extract(p.output_json, '$.score') {op} {self.param(bound)} "
                                      "AND json_type(p.output_json, '$.score') IN ('integer', 'real')")
            return
        # jsonb orders null < texts < numbers < booleans < arrays < objects, numbers by value: the index
        # finds the range, and a bound on each side keeps its numbers. No `jsonb_typeof(...) = 'number'`:
        # the planner would guess it holds for 0.5 % of the rows and sort a common range's every row.
        conditions = [has_key("p.output_json", "score")]
        for op, bound in ((">=", low), ("<=", high)):
            if bound is not None:
                conditions.append(f"{PG_SCORE} {op} CAST({self.param(json.dumps(bound))} AS jsonb)")
        if high is None:
            conditions.append(f"{PG_SCORE} < 'false'::jsonb")
        if low is None:
            conditions.append(f"{PG_SCORE} > 'null'::jsonb AND jsonb_typeof({PG_SCORE}) <> 'string'")
        self.where.append(" AND ".join(conditions))
        self.narrow.append(self.where[-1])

    def decision(self, value: int) -> None:
        self.where.append(f"{PG_DECISION if self.pg else SQLITE_DECISION} = {self.param(value)}")

    def _in_list(self, key: str, value: str) -> None:
        """The output's list ``key`` (``items``, ``out_of_domain``) holds ``value``."""
        if self.pg:
            self.where.append(f"{has_key('p.output_json', key)} AND ({OUTPUT} -> '{key}') @> "
                              f"CAST({self.param(_pg_json([value]))} AS jsonb)")
            self.narrow.append(self.where[-1])
        elif NUL in value:
            self.where.append(f"EXISTS (SELECT 1 FROM json_each(p.output_json, '$.{key}') AS e "
                              f"WHERE (p.output_json -> e.fullkey) = {self.param(_canonical(value))})")
        else:
            self.where.append(f"EXISTS (SELECT 1 FROM json_each(p.output_json, '$.{key}') AS e "
                              f"WHERE e.value = {self.param(value)})")

    def item(self, item: str) -> None:
        self._in_list("items", item)

    def out_of_domain(self, field: str) -> None:
        """Predictions serving flagged out of domain (``output.out_of_domain``): on ``field``, or on any."""
        if field != ANY:
            self._in_list("out_of_domain", field)
        elif self.pg:
            self.where.append(f"{has_key('p.output_json', 'out_of_domain')} AND ({OUTPUT} ->> 'out_of_domain') IS NOT NULL")
        else:
            self.where.append("json_extract(p.output_json, '$.out_of_domain') IS NOT NULL")

    def user(self, user: str) -> None:
        if self.pg:
            self.where.append(f"{has_key('pp.features_json', 'user_id')} AND {PG_USER} = {self.param(_pg_text(user))}")
            self.narrow_payload.append(self.where[-1])
            return
        column = "CAST(json_extract(pp.features_json, '$.user_id') AS TEXT)"  # migration 0007's index
        self.where.append(f"{column} = {self.param(user.split(NUL)[0])}")
        if NUL in user:  # the index finds the value cut at its NUL; the JSON text compares it whole
            self.where.append(f"(pp.features_json -> '$.user_id') = {self.param(_canonical(user))}")

    def group(self, group: GroupFilter) -> None:
        if self.pg:
            self._pg_group(group)
            return
        if isinstance(group.value, str) and NUL in group.value:
            value = f"(pp.sensitive_json -> {self.param(_json_path(group.name))})"
            given = self.param(_canonical(group.value))
        else:
            value = f"json_extract(pp.sensitive_json, {self.param(_json_path(group.name))})"
            given = self.param(group.value)
        if group.op == "!=":
            self.where.append(f"{value} IS NOT NULL AND {value} <> {given}")
        else:
            self.where.append(f"{value} {group.op} {given}")

    def _pg_group(self, group: GroupFilter) -> None:
        if group.op == "=":  # containment: the attribute holds exactly this JSON value (migration 0010's index)
            self.where.append(f"pp.sensitive_json <> '{{}}' AND {SENSITIVE} @> "
                              f"CAST({self.param(_pg_json({group.name: group.value}))} AS jsonb)")
            self.narrow_payload.append(self.where[-1])
            return
        path = f"({SENSITIVE} -> {self.param(_pg_text(group.name))})"
        if isinstance(group.value, str):
            value, given = f"({path} #>> '{{}}')", self.param(_pg_text(group.value))
        else:
            value = f"(CASE WHEN jsonb_typeof({path}) = 'number' THEN ({path})::numeric END)"
            given = f"CAST({self.param(str(group.value))} AS numeric)"
        if group.op == "!=":
            self.where.append(f"{value} IS NOT NULL AND {value} <> {given}")
        else:
            self.where.append(f"{value} {group.op} {given}")


def _json_path(name: str) -> str:
    return "$." + json.dumps(name)  # quoted: a name with a dot or a space is one key
