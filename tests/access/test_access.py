"""The auditor's read-only PostgreSQL role: it reads and verifies, and PostgreSQL refuses its writes."""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from govflow import canonical as canon
from govflow.errors import InputError
from govflow.governance.access import roles as access
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import Approval
from govflow.governance.ledger.verify import verify

GOVFLOW = str(Path(sys.executable).parent / "govflow")


@pytest.fixture
def auditor(pg_ledger: Ledger) -> Iterator[str]:
    """A fresh read-only role on the test database; dropped afterwards (roles outlive databases)."""
    name = f"gf_auditor_{secrets.token_hex(4)}"
    yield name
    try:
        access.drop_auditor_role(pg_ledger, name)
    except Exception:  # noqa: BLE001 - the test may have failed before creating it
        pass


def as_role(pg_url: str, role: str) -> str:
    return make_url(pg_url).set(username=role, password=None).render_as_string(hide_password=False)


def conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def test_the_command_creates_the_role_and_prints_what_it_did(pg_ledger: Ledger, pg_url: str, auditor: str, tmp_path: Path) -> None:
    done = subprocess.run([GOVFLOW, "--db", pg_url, "--home", str(tmp_path / "home"), "access", "create-auditor-role",
                           "--name", auditor], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    database = make_url(pg_url).database
    assert lines[:3] == [f"  CREATE ROLE {auditor} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                         "CONNECTION LIMIT 10;",
                         f"  ALTER ROLE {auditor} SET default_transaction_read_only = on;",
                         f"  GRANT CONNECT ON DATABASE {database} TO {auditor};"]
    assert f"  GRANT SELECT ON ALL TABLES IN SCHEMA public TO {auditor};" in lines
    assert lines[-1].startswith(f"role {auditor} can read the ledger and cannot write to it; connect with: govflow --db postgresql://{auditor}@")


def test_the_auditor_reads_and_verifies_but_postgresql_refuses_its_writes(pg_ledger: Ledger, pg_url: str, auditor: str,
                                                                        tmp_path: Path) -> None:
    with pg_ledger.write("test.approval", "x") as w:
        w.add(Approval, model_version_id="mv", role="risk_officer", approver="A", os_user="a", decision="approve",
              rationale="ok", evidence_hash="0" * 64, decided_at=canon.utc_now())
    access.create_auditor_role(pg_ledger, auditor)
    url = as_role(pg_url, auditor)
    reader = Ledger.open(url, home=pg_ledger.home)
    try:
        report = verify(reader)  # reads every table
        assert report.intact and report.entries == 2
        with pytest.raises(Exception) as refused, reader.write("test.approval", "forged") as w:
            w.add(Approval, model_version_id="mv", role="risk_officer", approver="Mallory", os_user="m", decision="approve",
                  rationale="forged", evidence_hash="0" * 64, decided_at=canon.utc_now())
        # refused at the writers' lock, before any row: the role may not take it (govflow.governance.ledger.pg_locks)
        assert "permission denied for table govflow_write_lock" in str(refused.value)
    finally:
        reader.close()
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        # even with the session switched back to read-write, the grants refuse every write
        conn.execute("SET default_transaction_read_only = off")
        for statement in ("INSERT INTO approvals (id, model_version_id, role, approver, os_user, decision, rationale, "
                          "evidence_hash, decided_at, audit_seq) VALUES ('x', 'mv', 'r', 'm', 'm', 'approve', 'f', 'e', now(), 99)",
                          "UPDATE audit_log SET subject = 'x'", "DELETE FROM prediction_payloads",
                          "CREATE TABLE notes (x int)"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege) as denied:
                conn.execute(statement)
            assert "permission denied" in str(denied.value)
        assert conn.execute("SELECT count(*) FROM approvals").fetchone() == (1,)
    assert verify(pg_ledger).intact


def test_tables_of_later_migrations_are_readable_and_only_readable(pg_ledger: Ledger, pg_url: str, auditor: str) -> None:
    access.create_auditor_role(pg_ledger, auditor)
    with psycopg.connect(conninfo(pg_url), autocommit=True) as owner:
        owner.execute("CREATE TABLE later_table (x int)")
        owner.execute("INSERT INTO later_table VALUES (1)")
    with psycopg.connect(conninfo(as_role(pg_url, auditor)), autocommit=True) as conn:
        assert conn.execute("SELECT x FROM later_table").fetchone() == (1,)
        conn.execute("SET default_transaction_read_only = off")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO later_table VALUES (2)")


def test_running_it_again_keeps_the_role_read_only(pg_ledger: Ledger, auditor: str) -> None:
    access.create_auditor_role(pg_ledger, auditor)
    statements = access.create_auditor_role(pg_ledger, auditor, password="s3cr'et")
    assert statements[0] == f"ALTER ROLE {auditor} LOGIN CONNECTION LIMIT 10 PASSWORD '***'"
    assert all("s3cr" not in s for s in statements)


@pytest.mark.parametrize(("name", "message"), [
    ("Auditor-1", "'Auditor-1' is not a role name: use lower-case letters, digits and '_' (at most 63), e.g. auditor"),
    ("postgres", "refusing to make 'postgres' read-only: it is the role this command connects as"),
])
def test_bad_role_names_are_refused(pg_ledger: Ledger, name: str, message: str) -> None:
    with pytest.raises(InputError) as raised:
        access.create_auditor_role(pg_ledger, name)
    assert str(raised.value) == message


def test_sqlite_has_no_roles(sqlite_ledger: Ledger) -> None:
    with pytest.raises(InputError) as raised:
        access.create_auditor_role(sqlite_ledger, "auditor")
    assert str(raised.value) == access.NOT_POSTGRES


def test_through_the_http_api_an_auditor_token_cannot_write(sqlite_ledger: Ledger) -> None:
    from fastapi.testclient import TestClient

    from govflow.governance.access import tokens
    from govflow.web import app as serve

    secret, _ = tokens.create_token(sqlite_ledger, role="auditor", label=None, created_by="test")
    app = serve.create_app(sqlite_ledger)
    writable = [(r.path, sorted(set(r.methods) - {"GET", "HEAD"})) for r in app.routes  # type: ignore[attr-defined]
                if getattr(r, "path", "").startswith("/audit") and set(getattr(r, "methods", ())) - {"GET", "HEAD"}]
    assert writable == []  # the auditor API has no route that could change anything
    head = sqlite_ledger.head()
    with TestClient(app) as client:
        answer = client.post("/predict/credit-scoring", json={"age": 30}, headers={"Authorization": f"Bearer {secret}"})
    assert answer.status_code == 403, answer.text
    assert sqlite_ledger.head() == head  # nothing was written
