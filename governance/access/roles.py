"""Read-only database access for auditors: a PostgreSQL role that can read and export, never write.

``govflow --db postgresql://OWNER@HOST/DB access create-auditor-role --name auditor`` runs, as the
ledger's owner, the statements `auditor_role_statements` lists (and prints them):

1. ``CREATE ROLE auditor LOGIN ... CONNECTION LIMIT 10`` (or ``ALTER ROLE`` when it exists), with a
   password when one is given: a role that may hold every connection could starve the writers;
2. ``ALTER ROLE ... SET default_transaction_read_only = on``: every session of the role is read-only;
3. ``GRANT CONNECT`` on the database and ``USAGE`` on the schema, ``REVOKE CREATE`` on the schema;
4. ``REVOKE ALL`` then ``GRANT SELECT`` on every table, and ``ALTER DEFAULT PRIVILEGES`` so the tables
   of later migrations are readable (and only readable) too.

PostgreSQL itself then refuses any INSERT, UPDATE or DELETE by the role ("permission denied"),
whatever the client: the append-only triggers protect history, the grants keep auditors out of
writing altogether. Nor can the role hold writers back: they serialise on a table lock in EXCLUSIVE
mode (`govflow.governance.ledger.pg_locks`), which PostgreSQL grants only to roles that may change the table, and
``SELECT ... FOR UPDATE/SHARE`` needs UPDATE too; its reads take ACCESS SHARE, which no writer waits on. The auditor connects with ``govflow --db postgresql://auditor@HOST/DB`` and can
run ``verify``, ``trace``, ``diff`` and ``export`` (which need the shared artifact folder, ``--home``).
The HTTP API enforces the same split with token roles (``govflow token create --role auditor``).
SQLite has no roles: give auditors a copy of the file, or read-only file permissions.
"""

from __future__ import annotations

import re

from sqlalchemy import text

from govflow.errors import InputError
from govflow.governance.ledger.engine import Ledger

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
BAD_NAME = "'{name}' is not a role name: use lower-case letters, digits and '_' (at most 63), e.g. auditor"
NOT_POSTGRES = ("database roles need the ledger on PostgreSQL (--db postgresql://...); with SQLite, give auditors a "
                "copy of the ledger file or read-only file permissions")
AUDITOR_CONNECTIONS = 10  # enough for a few auditors at once; too few to starve the writers of connections
OWNER_ROLE = "refusing to make '{name}' read-only: it is the role this command connects as"


def _check(ledger: Ledger, name: str) -> None:
    if ledger.is_sqlite:
        raise InputError(NOT_POSTGRES)
    if not ROLE_NAME.match(name):
        raise InputError(BAD_NAME.format(name=name))


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def auditor_role_statements(ledger: Ledger, name: str, password: str | None = None) -> list[str]:
    """The SQL `create_auditor_role` runs (the password shown as ``'***'``), in order."""
    return [s.replace(_literal(password), "'***'") if password else s for s in _statements(ledger, name, password)]


def _statements(ledger: Ledger, name: str, password: str | None) -> list[str]:
    _check(ledger, name)
    with ledger.read() as conn:
        database, schema, me = conn.execute(text("SELECT current_database(), current_schema(), current_user")).one()
        exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name}).scalar() is not None
    if name == me:
        raise InputError(OWNER_ROLE.format(name=name))
    q = ledger.engine.dialect.identifier_preparer.quote
    role, db, sch, owner = q(name), q(database), q(schema), q(me)
    secret = f" PASSWORD {_literal(password)}" if password else ""
    return [
        (f"ALTER ROLE {role} LOGIN CONNECTION LIMIT {AUDITOR_CONNECTIONS}{secret}" if exists
         else f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
              f"CONNECTION LIMIT {AUDITOR_CONNECTIONS}{secret}"),
        f"ALTER ROLE {role} SET default_transaction_read_only = on",
        f"GRANT CONNECT ON DATABASE {db} TO {role}",
        f"GRANT USAGE ON SCHEMA {sch} TO {role}",
        f"REVOKE CREATE ON SCHEMA {sch} FROM {role}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {sch} FROM {role}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA {sch} TO {role}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {sch} FROM {role}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {sch} GRANT SELECT ON TABLES TO {role}",
    ]


def create_auditor_role(ledger: Ledger, name: str, password: str | None = None) -> list[str]:
    """Create (or bring back to read-only) the role; returns the statements run, password masked."""
    statements = _statements(ledger, name, password)
    with ledger.engine.connect() as conn, conn.begin():
        for statement in statements:
            conn.execute(text(statement))
    return auditor_role_statements(ledger, name, password) if password else statements


def drop_auditor_role(ledger: Ledger, name: str) -> list[str]:
    """Remove the role's privileges in this database and drop it (it must own nothing elsewhere)."""
    _check(ledger, name)
    q = ledger.engine.dialect.identifier_preparer.quote
    statements = [f"DROP OWNED BY {q(name)}", f"DROP ROLE {q(name)}"]
    with ledger.engine.connect() as conn, conn.begin():
        for statement in statements:
            conn.execute(text(statement))
    return statements


def auditor_url(ledger: Ledger, name: str) -> str:
    """The ledger URL with the auditor role as its user (no password)."""
    from sqlalchemy.engine import make_url

    url = make_url(ledger.engine.url.render_as_string(hide_password=False)).set(username=name, password=None)
    return url.set(drivername="postgresql").render_as_string(hide_password=True)
