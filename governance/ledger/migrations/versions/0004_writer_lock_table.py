"""writer lock table: the lock PostgreSQL writers serialise on, which a read-only role cannot take

Revision ID: 0004
Revises: 0003

Writers on PostgreSQL used to serialise on an advisory lock; any role that can connect may take
an advisory lock, so the read-only auditor role could hold it and stop every writer. Writers now
take ``LOCK TABLE govflow_write_lock IN EXCLUSIVE MODE`` in their transaction: PostgreSQL grants
that mode only to a role with UPDATE, DELETE or TRUNCATE on the table, and it does not conflict
with the ACCESS SHARE lock a reader's SELECT takes. The table holds no rows; only its lock matters.
SQLite serialises writers with ``BEGIN IMMEDIATE`` and needs no table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

TABLE = "govflow_write_lock"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.create_table(TABLE, sa.Column('id', sa.Integer(), nullable=False), sa.PrimaryKeyConstraint('id'))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.drop_table(TABLE)
