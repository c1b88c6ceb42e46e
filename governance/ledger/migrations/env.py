"""Alembic environment: govflow runs migrations itself, on open, over a connection it passes in."""

from __future__ import annotations

from alembic import context

from govflow.governance.ledger.schema import Base

VERSION_TABLE = "govflow_schema_version"

connection = context.config.attributes.get("connection")
if connection is None:  # `alembic` command line, e.g. to autogenerate a new revision
    from sqlalchemy import create_engine

    connection = create_engine(context.config.get_main_option("sqlalchemy.url")).connect()

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
if "connection" not in context.config.attributes:
    connection.commit()
