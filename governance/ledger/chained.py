"""Rows the hash chain covers: the one filter every query that derives current state applies.

A history row is covered when its ``audit_seq`` names the audit entry that recorded it. The
column is NOT NULL in the schema, but someone with database rights can drop that constraint and
insert rows with no ``audit_seq`` at all (a working API token, a forged production stage; on
PostgreSQL NULLs even sort first under ``ORDER BY audit_seq DESC``). `govflow verify` reports such
rows as tampering; this filter makes sure nothing reads them as fact in the meantime.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_

# For the few statements written as SQL text (a hot path's single round trip): the same condition.
CHAINED_SQL = "audit_seq IS NOT NULL"


def chained(*models: Any) -> ColumnElement[bool]:
    """``audit_seq IS NOT NULL`` for each history model (or table) given: rows the chain covers."""
    columns = [m.audit_seq if hasattr(m, "audit_seq") else m.c.audit_seq for m in models]
    return and_(*(column.isnot(None) for column in columns))
