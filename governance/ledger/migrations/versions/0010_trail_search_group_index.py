"""trail search index on the sensitive groups of a prediction's payload (#20)

Revision ID: 0010
Revises: 0009

PostgreSQL only, following 0008: a GIN (``jsonb_path_ops``) index over
`govflow.governance.trail.search_sql`'s expression of ``prediction_payloads.sensitive_json`` (the
canonical JSON text as ``jsonb`` with its ``\\u0000`` escapes turned into ``\\ufffd`` first, a cast
that cannot fail, so no payload becomes unloggable), partial on the payloads that have a sensitive
attribute at all (``'{}'`` pays nothing). It answers ``--group NAME=VALUE`` (``@>``): the search
counts a group's matches through it first, and when they are few (a rare group, or a value nobody
has, e.g. a typo or another system's attribute) takes its page from them instead of walking the
time index through millions of rows (5 million predictions: a group no payload has was a walk of
every row). A common group keeps the time-ordered walk, which meets its matches at once. Range
conditions (``age_in_years<25``) are not served by it (``jsonb_path_ops`` holds equality only).

One index serves every system's every attribute (one GIN entry per attribute of a payload). Indexes
only: no table, column, key or trigger changes; the chain and `govflow verify` are unaffected. On a
large existing ledger the upgrade builds it once (about a minute per few million payloads).
"""

from __future__ import annotations

from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

SENSITIVE = "replace(sensitive_json, '\\u0000', '\\ufffd')::jsonb"
INDEX = ("ix_payloads_search_sensitive", f"prediction_payloads USING gin (({SENSITIVE}) jsonb_path_ops)",
         "sensitive_json <> '{}'")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        name, target, where = INDEX
        op.execute(f"CREATE INDEX {name} ON {target} WHERE {where}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX {INDEX[0]}")
