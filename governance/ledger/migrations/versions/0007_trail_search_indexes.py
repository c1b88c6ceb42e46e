"""trail search indexes: what a decision answered, who it was about, what a list recommended (#20)

Revision ID: 0007
Revises: 0006

`govflow predictions search` (and ``/audit/predictions``) filters on values inside the canonical JSON
of a prediction's output and payload. On PostgreSQL these expression indexes answer them without
reading every row; each is written exactly as `govflow.governance.trail.search` writes its filter,
so the planner matches them:

* ``(system, output ->> 'decision', served_at)``: a system's refusals (or grants) of a period, newest first.
* ``(system, score as a number)``: a score range.
* GIN ``output -> 'items'`` (``jsonb_path_ops``): every list that recommended an item (containment).
* GIN ``sensitive_json`` (``jsonb_path_ops``): a sensitive group (``sex=female``, containment), on
  the payloads; ``features ->> 'user_id'``: everything served to a recommender's user.

The subject id, the request id and the time already have their B-trees (0001, 0006). Ranges on a
sensitive attribute (``age<25``) use the other filters' indexes and check the rest row by row.
SQLite gets the user's index (an expression index on ``json_extract``); its other JSON filters read
the JSON row by row, newest first, which is fine at the sizes an embedded ledger holds (see
bench/bench_search.py).
Indexes only: no table, column, key or trigger changes; the chain and `govflow verify` are unaffected.
"""

from __future__ import annotations

from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

SCORE = ("(CASE WHEN jsonb_typeof(output_json::jsonb -> 'score') = 'number' "
         "THEN (output_json::jsonb ->> 'score')::float8 END)")
INDEXES = {
    "ix_predictions_search_decision": "predictions (system, (output_json::jsonb ->> 'decision'), served_at)",
    "ix_predictions_search_score": f"predictions (system, {SCORE})",
    "ix_predictions_search_items": "predictions USING gin ((output_json::jsonb -> 'items') jsonb_path_ops)",
    "ix_payloads_search_sensitive": "prediction_payloads USING gin ((sensitive_json::jsonb) jsonb_path_ops)",
    "ix_payloads_search_user": "prediction_payloads ((features_json::jsonb ->> 'user_id'))",
}


SQLITE_USER = ("ix_payloads_search_user",
               "prediction_payloads (CAST(json_extract(features_json, '$.user_id') AS TEXT))")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"CREATE INDEX {SQLITE_USER[0]} ON {SQLITE_USER[1]}")
        return
    for name, definition in INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON {definition}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP INDEX {SQLITE_USER[0]}")
        return
    for name in INDEXES:
        op.execute(f"DROP INDEX {name}")
