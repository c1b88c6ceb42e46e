"""the prediction log summed per hour, for the dashboard's system page (#19 item 3)

Revision ID: 0011
Revises: 0010

``prediction_rollup``: per system, hour, model version, decision and sensitive group, how many
predictions (`govflow.governance.trail.rollup`). Each batch of the prediction log adds to it in its
own transaction, so the system page reads a few rows per hour instead of every prediction of the
period (at 10 million predictions, 2.2 s for the latest 100,000 of them before; the whole period now).

Not chained and without triggers: it is a sum, updated in place; `govflow verify` recounts it from
the chained predictions. On a ledger that already has predictions the upgrade counts them once (about
a minute per few million); rendered as SQL (the schema check, offline) it only creates the table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import govflow.governance.ledger.schema

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prediction_rollup",
        sa.Column("system", sa.String(length=200), nullable=False),
        sa.Column("hour", govflow.governance.ledger.schema.UTCDateTime(timezone=True), nullable=False),
        sa.Column("model_version_id", sa.String(length=36), nullable=False),
        sa.Column("decision", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("cell", sa.String(length=64), nullable=False),
        sa.Column("attribute", sa.Text(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("out_of_domain", sa.BigInteger(), nullable=False),
        sa.Column("with_items", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("system", "hour", "model_version_id", "decision", "cell"),
    )
    if not op.get_context().as_sql:
        from govflow.governance.trail.rollup import rebuild

        rebuild(op.get_bind())


def downgrade() -> None:
    op.drop_table("prediction_rollup")
