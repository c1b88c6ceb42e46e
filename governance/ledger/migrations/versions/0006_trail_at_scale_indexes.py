"""trail at scale: the prediction log's indexes for queries a person waits for, and a cheaper one per row (#19)

Revision ID: 0006
Revises: 0005

* ``(system, served_at)``: the dashboard counts a system's predictions of a period, and lists the
  latest, from the index alone (it used to read every row of the period to check its system).
* ``(model_version_id, served_at)``: a version's predictions in a time range (``/audit/predictions``
  by version and time, the dashboard's unapproved-serving counts). It replaces the index on
  ``model_version_id`` alone, its prefix: one index fewer to update per row logged.
* PostgreSQL: ``payload_hash`` (a random key: every row lands on a random page of its index) gets a
  hash index instead of a B-tree. The column is only ever looked up by equality (joins to its
  payload, retention); a hash index stores a 4-byte code instead of the 64-character key, so the
  index a 10-million-row log keeps warm is about a fifth of the size, and each checkpoint rewrites
  that many fewer pages. SQLite has no hash index and keeps its B-tree.

Indexes only: no table, column, key or trigger changes, so the hash chain, the append-only triggers
and the schema `govflow verify` compares are as before. On a large existing ledger the upgrade builds
the two indexes once (minutes at tens of millions of rows).
"""

from __future__ import annotations

from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_predictions_system_served_at", "predictions", ["system", "served_at"])
    op.create_index("ix_predictions_model_version_id_served_at", "predictions", ["model_version_id", "served_at"])
    op.drop_index("ix_predictions_model_version_id", table_name="predictions")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_predictions_payload_hash", table_name="predictions")
        op.create_index("ix_predictions_payload_hash", "predictions", ["payload_hash"], postgresql_using="hash")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_predictions_payload_hash", table_name="predictions")
        op.create_index("ix_predictions_payload_hash", "predictions", ["payload_hash"])
    op.create_index("ix_predictions_model_version_id", "predictions", ["model_version_id"])
    op.drop_index("ix_predictions_model_version_id_served_at", table_name="predictions")
    op.drop_index("ix_predictions_system_served_at", table_name="predictions")
