"""policies: the full policy each gate decision applied

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import govflow.governance.ledger.schema

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

TABLE = "policies"


def upgrade() -> None:
    op.create_table(TABLE,
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('system', sa.String(length=200), nullable=False),
    sa.Column('policy_hash', sa.String(length=64), nullable=False),
    sa.Column('content_json', sa.Text(), nullable=False),
    sa.Column('recorded_by_run_id', sa.String(length=36), nullable=True),
    sa.Column('recorded_at', govflow.governance.ledger.schema.UTCDateTime(timezone=True), nullable=False),
    sa.Column('audit_seq', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_policies_audit_seq'), ['audit_seq'], unique=False)
        batch_op.create_index('ux_policies_system_hash', ['system', 'policy_hash'], unique=True)
    install_append_only_triggers()


def install_append_only_triggers() -> None:
    """The new history table refuses UPDATE and DELETE (and TRUNCATE), as 0001 does for the others."""
    bind = op.get_bind()
    message = f"govflow ledger: {TABLE} is append-only (UPDATE and DELETE are refused)"
    if bind.dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {TABLE}_no_{verb.lower()} BEFORE {verb} ON {TABLE} "
                f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
            )
        return
    op.execute(
        f"CREATE FUNCTION govflow_{TABLE}_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{message}'; END $$"
    )
    op.execute(
        f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
        f"FOR EACH ROW EXECUTE FUNCTION govflow_{TABLE}_append_only()"
    )
    op.execute(
        f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION govflow_{TABLE}_append_only()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_update")
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_delete")
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_index('ux_policies_system_hash')
        batch_op.drop_index(batch_op.f('ix_policies_audit_seq'))
    op.drop_table(TABLE)
    if op.get_bind().dialect.name != "sqlite":
        op.execute(f"DROP FUNCTION IF EXISTS govflow_{TABLE}_append_only()")
