"""trail search indexes that no row can refuse: items, out-of-domain fields, score, a recommender's user (#20)

Revision ID: 0008
Revises: 0007

PostgreSQL only (SQLite keeps 0007's index on the user; its other filters read the JSON in place).
Each index is over `govflow.governance.trail.search_sql`'s expression of the canonical JSON text as
``jsonb`` with its ``\\u0000`` escapes turned into ``\\ufffd`` first: that cast cannot fail, so a
prediction whose answer or input holds a NUL is logged and indexed like any other (0007 dropped
the plain ``::jsonb`` indexes because one such row made its prediction unloggable). Each index is
partial, on the rows whose JSON names its key (``strpos``, no parse), so a credit decision pays
nothing for the recommender's indexes and a row flagged out of domain is the rare one that pays
for those:

* ``items`` (GIN, ``jsonb_path_ops``): every list that recommended an item (``@>``).
* ``out_of_domain``: GIN for one field (``@>``); a B-tree on ``served_at`` for "any field", newest first.
* ``score`` (B-tree on its ``jsonb`` value: one parse per row, no cast that a huge number or a text
  could fail; ``jsonb`` orders numbers among themselves by value, and the search keeps the numbers).
* ``prediction_payloads``: the recommender's ``user_id`` (B-tree): everything served to one user.

Decisions (half of the rows either way) and sensitive groups (a B-tree cannot serve ``age < 25``,
and a GIN's fixed selectivity guess would make the planner read a common group's millions of rows
before sorting) are read from the rows the time order visits. Indexes only: no table, column, key
or trigger changes; the chain and `govflow verify` are unaffected. On a large existing ledger the
upgrade builds them once (about a minute per few million predictions on a loaded machine).
"""

from __future__ import annotations

from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

OUTPUT = "replace(output_json, '\\u0000', '\\ufffd')::jsonb"
FEATURES = "replace(features_json, '\\u0000', '\\ufffd')::jsonb"


def _has(column: str, key: str) -> str:
    return f"strpos({column}, '\"{key}\":') > 0"


INDEXES = (
    ("ix_predictions_search_items", "predictions USING gin ((" + OUTPUT + " -> 'items') jsonb_path_ops)",
     _has("output_json", "items")),
    ("ix_predictions_search_ood", "predictions USING gin ((" + OUTPUT + " -> 'out_of_domain') jsonb_path_ops)",
     _has("output_json", "out_of_domain")),
    ("ix_predictions_search_ood_served_at", "predictions (served_at)", _has("output_json", "out_of_domain")),
    ("ix_predictions_search_score", "predictions ((" + OUTPUT + " -> 'score'))", _has("output_json", "score")),
    ("ix_payloads_search_user_pg", "prediction_payloads ((" + FEATURES + " ->> 'user_id'))",
     _has("features_json", "user_id")),
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, target, where in INDEXES:
            op.execute(f"CREATE INDEX {name} ON {target} WHERE {where}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, _, _ in reversed(INDEXES):
            op.execute(f"DROP INDEX {name}")
