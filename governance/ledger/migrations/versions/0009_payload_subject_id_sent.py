"""payloads keep both ids of a subject: the id column's value and the subject_id sent (#16 item 7)

Revision ID: 0009
Revises: 0008

A record that carries the system's id column (``data.id_column``) has that value in
``prediction_payloads.subject_id`` (outcomes are joined on it); the ``subject_id`` sent with the same
record was dropped, so an erasure request naming it found nothing. ``subject_id_sent`` keeps it (only
when it differs), and `govflow erase --subject X` finds a subject by either. The column is in the
purgeable, unchained payload table: no hash, chain or trigger changes; payloads written before keep
a null there. ``ADD COLUMN`` and ``CREATE INDEX`` run in place on both backends (no table rebuild
that would drop the payload table's delete trigger).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

INDEX = "ix_prediction_payloads_subject_id_sent"


def upgrade() -> None:
    op.add_column("prediction_payloads", sa.Column("subject_id_sent", sa.String(length=200), nullable=True))
    op.create_index(INDEX, "prediction_payloads", ["subject_id_sent"], unique=False)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="prediction_payloads")
    op.drop_column("prediction_payloads", "subject_id_sent")
