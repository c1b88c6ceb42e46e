"""policy approvals and approval signatures: the governed policy in force, and signed approvals (#16)

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import govflow.governance.ledger.schema

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

TABLES = ("policy_approvals", "approval_signatures")


def upgrade() -> None:
    op.create_table("policy_approvals",
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('system', sa.String(length=200), nullable=False),
    sa.Column('policy_hash', sa.String(length=64), nullable=False),
    sa.Column('previous_policy_hash', sa.String(length=64), nullable=True),
    sa.Column('role', sa.String(length=100), nullable=False),
    sa.Column('approver', sa.String(length=200), nullable=False),
    sa.Column('os_user', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('approved_at', govflow.governance.ledger.schema.UTCDateTime(timezone=True), nullable=False),
    sa.Column('audit_seq', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table("policy_approvals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_policy_approvals_audit_seq'), ['audit_seq'], unique=False)
        batch_op.create_index(batch_op.f('ix_policy_approvals_system'), ['system'], unique=False)
    op.create_table("approval_signatures",
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('approval_id', sa.String(length=36), nullable=False),
    sa.Column('principal', sa.String(length=300), nullable=False),
    sa.Column('public_key', sa.Text(), nullable=False),
    sa.Column('key_fingerprint', sa.String(length=100), nullable=False),
    sa.Column('signature', sa.Text(), nullable=False),
    sa.Column('allowed_signers_hash', sa.String(length=64), nullable=False),
    sa.Column('audit_seq', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table("approval_signatures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_approval_signatures_audit_seq'), ['audit_seq'], unique=False)
        batch_op.create_index(batch_op.f('ix_approval_signatures_approval_id'), ['approval_id'], unique=False)
    for table in TABLES:
        install_append_only_triggers(table)


def install_append_only_triggers(table: str) -> None:
    """The new history tables refuse UPDATE and DELETE (and TRUNCATE), as 0001 does for the others."""
    bind = op.get_bind()
    message = f"govflow ledger: {table} is append-only (UPDATE and DELETE are refused)"
    if bind.dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
            )
        return
    op.execute(
        f"CREATE FUNCTION govflow_{table}_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{message}'; END $$"
    )
    op.execute(
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION govflow_{table}_append_only()"
    )
    op.execute(
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION govflow_{table}_append_only()"
    )


def downgrade() -> None:
    for table in reversed(TABLES):
        if op.get_bind().dialect.name == "sqlite":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        op.drop_table(table)
        if op.get_bind().dialect.name != "sqlite":
            op.execute(f"DROP FUNCTION IF EXISTS govflow_{table}_append_only()")
