"""trail search indexes: what a decision answered, who it was about, what a list recommended (#20)

Revision ID: 0007
Revises: 0006

`govflow predictions search` (and ``/audit/predictions``) filters on values inside the canonical JSON
of a prediction's output and payload. SQLite gets the user's index (an expression index on
``json_extract``: everything served to a recommender's user).

PostgreSQL gets no expression index over the JSON columns: such an index casts every row to
``jsonb`` as it is written, and ``jsonb`` refuses text the canonical JSON allows (a ``\\u0000`` in an
own service's output), so one odd answer would make its prediction unloggable. An audit trail that
drops a decision to speed up a search is the wrong trade; the subject id, the request id and the time
have their B-trees (0001, 0006), and the other filters read the JSON of the rows those select.
Indexes only: no table, column, key or trigger changes; the chain and `govflow verify` are unaffected.
"""

from __future__ import annotations

from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

SQLITE_USER = ("ix_payloads_search_user",
               "prediction_payloads (CAST(json_extract(features_json, '$.user_id') AS TEXT))")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"CREATE INDEX {SQLITE_USER[0]} ON {SQLITE_USER[1]}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP INDEX {SQLITE_USER[0]}")
