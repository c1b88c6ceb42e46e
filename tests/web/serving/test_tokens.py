"""API tokens: listing and revocation (SQLite and PostgreSQL), in the ledger, on the CLI and over HTTP."""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import select, text

from govflow.errors import InputError
from govflow.governance.access import tokens
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import ApiToken, ApiTokenRevocation, AuditEntry
from govflow.governance.ledger.verify import verify
from govflow.governance.registry.versions import VersionRef
from govflow.web.app import REVOKED_TOKEN, TOKEN_REFRESH_S, TOKENS_UNAVAILABLE, Auth, create_app
from tests.web.serving.helpers import GOVFLOW, counts, db_url, put_in_production, records, server

PREDICT = "/predict/credit-scoring"


def govflow(ledger: Ledger, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command line on this ledger."""
    return subprocess.run([GOVFLOW, "--home", str(ledger.home), "--db", db_url(ledger), *args],
                          capture_output=True, text=True, timeout=120)


def test_revocation_is_one_chained_row_and_refused_twice(ledger: Ledger) -> None:
    secret, info = tokens.create_token(ledger, role="operator", label="loan-frontend", created_by="ana")
    revoked = tokens.revoke_token(ledger, info.id, revoked_by="ben", reason="laptop lost")
    assert (revoked.id, revoked.role, revoked.label) == (info.id, "operator", "loan-frontend")
    seq, _ = ledger.head()
    with ledger.read() as conn:
        entry = conn.execute(select(AuditEntry).where(AuditEntry.seq == seq)).mappings().one()
        row = conn.execute(select(ApiTokenRevocation)).mappings().one()
        assert tokens.verify_token(conn, secret) is None  # revoked: no longer a valid token
        assert tokens.all_tokens(conn)[tokens.hash_secret(secret)] == revoked
        assert conn.execute(select(ApiToken.label)).scalars().all() == ["loan-frontend"]  # the token row stays
    assert entry["event_type"] == "token.revoked" and entry["subject"] == f"token {info.id} (loan-frontend)"
    assert json.loads(entry["payload_json"])["tables"]["api_token_revocations"]["rows"] == 1
    assert (row["token_id"], row["revoked_by"], row["reason"], row["audit_seq"]) == (info.id, "ben", "laptop lost", seq)
    assert revoked.revoked_at is not None and revoked.revoked_at.endswith("Z")

    with pytest.raises(InputError) as again:
        tokens.revoke_token(ledger, "loan-frontend", revoked_by="ben")  # by label this time
    assert str(again.value) == (f"token {info.id} ('loan-frontend') was already revoked at {revoked.revoked_at} "
                                "by ben; nothing was changed")
    with pytest.raises(InputError) as unknown:
        tokens.revoke_token(ledger, "no-such-token", revoked_by="ben")
    assert str(unknown.value) == "no token has the id or label 'no-such-token'; `govflow token list` shows them"
    assert ledger.head()[0] == seq  # neither wrote anything
    report = verify(ledger)
    assert report.intact, report.findings[:3]


def test_revocations_are_append_only(ledger: Ledger) -> None:
    _, info = tokens.create_token(ledger, role="auditor", label=None, created_by="ana")
    tokens.revoke_token(ledger, info.id, revoked_by="ben")
    message = "govflow ledger: api_token_revocations is append-only (UPDATE and DELETE are refused)"
    for sql in ("DELETE FROM api_token_revocations", "UPDATE api_token_revocations SET reason = 'x'"):
        with pytest.raises(Exception) as refused:
            with ledger.engine.begin() as conn:
                conn.execute(text(sql))
        assert message in str(refused.value)


def test_list_shows_ids_and_revocations_never_secrets(ledger: Ledger) -> None:
    secret_a, a = tokens.create_token(ledger, role="auditor", label="external-auditor", created_by="ana")
    secret_b, b = tokens.create_token(ledger, role="operator", label=None, created_by="ana")
    tokens.revoke_token(ledger, b.id, revoked_by="ben", reason="rotated")
    with ledger.read() as conn:
        listed = tokens.list_tokens(conn)
    assert [(t["id"], t["role"], t["label"], t["created_by"]) for t in listed] == [
        (a.id, "auditor", "external-auditor", "ana"), (b.id, "operator", "operator-1", "ana")]
    assert listed[0]["revoked"] is None
    assert listed[1]["revoked"]["by"] == "ben" and listed[1]["revoked"]["reason"] == "rotated"
    text_out = json.dumps(listed)
    for secret in (secret_a, secret_b):
        assert secret not in text_out and tokens.hash_secret(secret) not in text_out


def test_token_cli_list_and_revoke(sqlite_ledger: Ledger) -> None:
    ledger = sqlite_ledger
    assert govflow(ledger, "token", "list").stdout == "no tokens: serve answers on 127.0.0.1 only, /predict without a token\n"
    created = govflow(ledger, "token", "create", "--role", "operator", "--label", "frontend")
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    with ledger.read() as conn:
        token_id = conn.execute(select(ApiToken.id)).scalar_one()

    listed = govflow(ledger, "token", "list")
    assert listed.returncode == 0 and secret not in listed.stdout and tokens.hash_secret(secret) not in listed.stdout
    header, line = listed.stdout.splitlines()
    assert header.split() == ["ID", "ROLE", "LABEL", "CREATED", "BY", "STATUS"]
    assert line.startswith(f"{token_id}  operator  frontend  ") and line.endswith("  active")

    revoked = govflow(ledger, "token", "revoke", token_id, "--reason", "rotated")
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout.startswith(f"operator token 'frontend' ({token_id}) revoked at ")
    assert revoked.stdout.rstrip().endswith(f"a running govflow serve refuses it within {TOKEN_REFRESH_S:g} s")
    [after] = json.loads(govflow(ledger, "token", "list", "--json").stdout)
    assert after["id"] == token_id and after["revoked"]["reason"] == "rotated"
    assert "revoked " + after["revoked"]["at"] in govflow(ledger, "token", "list").stdout

    twice = govflow(ledger, "token", "revoke", token_id)
    assert (twice.returncode, twice.stdout) == (2, "")
    assert twice.stderr == (f"error: token {token_id} ('frontend') was already revoked at {after['revoked']['at']} "
                            f"by {after['revoked']['by']}; nothing was changed\n")
    unknown = govflow(ledger, "token", "revoke", "0195ffff-0000-7000-8000-000000000000")
    assert (unknown.returncode, unknown.stderr) == (
        2, "error: no token has the id or label '0195ffff-0000-7000-8000-000000000000'; `govflow token list` shows them\n")


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _app(ledger: Ledger, clock: Clock) -> Any:
    app = create_app(ledger)
    app.state.govflow.auth = Auth(ledger, clock=clock)
    return app


def test_a_revoked_token_gets_401_within_the_cache_bound(served: tuple[Ledger, VersionRef]) -> None:
    ledger, _ = served
    operator, op_info = tokens.create_token(ledger, role="operator", label="loan-frontend", created_by="t")
    auditor, au_info = tokens.create_token(ledger, role="auditor", label="external-auditor", created_by="t")
    as_operator, as_auditor = {"Authorization": f"Bearer {operator}"}, {"Authorization": f"Bearer {auditor}"}
    clock = Clock()
    with TestClient(_app(ledger, clock), client=("127.0.0.1", 50000)) as client:
        served_ok = client.post(PREDICT, json=records(1)[0], headers=as_operator)
        assert served_ok.status_code == 200
        pid = served_ok.json()["predictions"][0]["prediction_id"]
        assert client.get(f"/audit/predictions/{pid}", headers=as_auditor).status_code == 200
        # Revoked by another process: its own connection to the ledger, as `govflow token revoke` has.
        other = Ledger.open(db_url(ledger), ledger.home)
        try:
            op_revoked = tokens.revoke_token(other, op_info.id, revoked_by="ops")
            au_revoked = tokens.revoke_token(other, "external-auditor", revoked_by="ops")
        finally:
            other.close()
        clock.now += TOKEN_REFRESH_S  # the bound: from here on the revocation must be honoured
        before = counts(ledger)
        refused = client.post(PREDICT, json=records(1)[0], headers=as_operator)
        assert refused.status_code == 401
        assert refused.json() == {"detail": REVOKED_TOKEN.format(label="loan-frontend", at=op_revoked.revoked_at)}
        assert refused.json()["detail"] == (f"this token ('loan-frontend') was revoked at {op_revoked.revoked_at}: "
                                            "ask for a new one (`govflow token create`)")
        assert counts(ledger) == before  # nothing recorded for a refused request
        audit = client.get(f"/audit/predictions/{pid}", headers=as_auditor)
        assert audit.status_code == 401 and audit.json()["detail"].startswith("this token ('external-auditor') was revoked at ")
        assert au_revoked.revoked_at in audit.json()["detail"]
        dashboard = client.get("/dashboard", headers=as_auditor)
        assert dashboard.status_code == 401  # the dashboard uses the same cache, and says why
        assert str(escape(REVOKED_TOKEN.format(label="external-auditor", at=au_revoked.revoked_at))) in dashboard.text
        signed_in = client.post("/dashboard/login", data={"token": auditor, "next": "/dashboard"})
        assert signed_in.status_code == 401 and f"this token (&#39;external-auditor&#39;) was revoked at {au_revoked.revoked_at}" in signed_in.text
        # Every token revoked: /predict does not fall back to the open, token-less mode.
        anonymous = client.post(PREDICT, json=records(1)[0])
        assert anonymous.status_code == 401 and anonymous.json()["detail"].startswith("this endpoint needs an operator token")


def test_a_token_table_that_cannot_be_read_is_503_not_a_pass(pg_ledger: Ledger) -> None:
    """The ledger's database stops taking connections between two reloads: requests get 503 (retry),
    none goes through unchecked; once it is back, they are served again."""
    import psycopg

    ledger = pg_ledger
    put_in_production(ledger)
    operator, _ = tokens.create_token(ledger, role="operator", label="frontend", created_by="t")
    headers = {"Authorization": f"Bearer {operator}"}
    name = ledger.engine.url.database
    admin_url = db_url(ledger).rsplit("/", 1)[0] + "/postgres"
    clock = Clock()
    with TestClient(_app(ledger, clock), client=("127.0.0.1", 50000)) as client:
        assert client.post(PREDICT, json=records(1)[0], headers=headers).status_code == 200
        before = counts(ledger)
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            try:
                clock.now += TOKEN_REFRESH_S
                refused = client.post(PREDICT, json=records(1)[0], headers=headers)
            finally:
                admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        assert (refused.status_code, refused.headers["retry-after"]) == (503, "1")
        head, _, tail = TOKENS_UNAVAILABLE.partition("{error}")
        assert refused.json()["detail"].startswith(head) and refused.json()["detail"].endswith(tail), refused.json()
        clock.now += TOKEN_REFRESH_S
        # The terminated backends included the ledger writer's: its next write fails closed (503)
        # and reconnects, so a retry is served.
        answers = [client.post(PREDICT, json=records(1)[0], headers=headers).status_code]
        if answers == [503]:
            answers.append(client.post(PREDICT, json=records(1)[0], headers=headers).status_code)
        assert answers[-1] == 200, answers
    assert counts(ledger)[0] == before[0] + 1


def test_the_token_table_is_read_once_per_bound_not_per_request(sqlite_served: tuple[Ledger, VersionRef],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    ledger, _ = sqlite_served
    operator, _ = tokens.create_token(ledger, role="operator", label="frontend", created_by="t")
    reads = []
    real = tokens.all_tokens

    def counted(conn: Any) -> dict[str, tokens.TokenInfo]:
        reads.append(1)
        return real(conn)

    monkeypatch.setattr(tokens, "all_tokens", counted)
    clock = Clock()
    with TestClient(_app(ledger, clock), client=("127.0.0.1", 50000)) as client:
        for _ in range(5):
            assert client.post(PREDICT, json=records(1)[0], headers={"Authorization": f"Bearer {operator}"}).status_code == 200
        assert len(reads) == 1
        clock.now += TOKEN_REFRESH_S
        assert client.post(PREDICT, json=records(1)[0], headers={"Authorization": f"Bearer {operator}"}).status_code == 200
        assert len(reads) == 2


def test_a_running_server_refuses_a_token_revoked_from_the_cli(served: tuple[Ledger, VersionRef]) -> None:
    """Two real processes: `govflow serve`, then `govflow token revoke`; refused within the bound."""
    ledger, _ = served
    operator, info = tokens.create_token(ledger, role="operator", label="frontend", created_by="t")
    headers = {"Authorization": f"Bearer {operator}"}
    with server(ledger) as (base, _):
        assert httpx.post(f"{base}{PREDICT}", json=records(1)[0], headers=headers, timeout=60).status_code == 200
        result = govflow(ledger, "token", "revoke", info.id)
        assert result.returncode == 0, result.stderr
        done = time.monotonic()
        time.sleep(TOKEN_REFRESH_S)
        refused = httpx.post(f"{base}{PREDICT}", json=records(1)[0], headers=headers, timeout=60)
        assert time.monotonic() - done < TOKEN_REFRESH_S + 5  # (a loaded machine may be slow to answer)
        assert refused.status_code == 401, refused.text
        assert refused.json()["detail"].startswith("this token ('frontend') was revoked at ")


def test_a_ledger_made_before_revocations_is_upgraded_on_open(ledger: Ledger) -> None:
    """Migration 0002 on a ledger at 0001 with history in it: the table and its triggers appear, the chain holds."""
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from govflow.governance.ledger.engine import MIGRATIONS

    _, info = tokens.create_token(ledger, role="operator", label=None, created_by="ana")
    with ledger.engine.connect() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        with conn.begin():
            command.downgrade(config, "0001")
    with ledger.read() as conn:
        assert conn.execute(text("SELECT version_num FROM govflow_schema_version")).scalar_one() == "0001"
    reopened = Ledger.open(db_url(ledger), ledger.home)
    try:
        with reopened.read() as conn:
            head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
            assert conn.execute(text("SELECT version_num FROM govflow_schema_version")).scalar_one() == head
        tokens.revoke_token(reopened, info.id, revoked_by="ben")
        with pytest.raises(Exception, match="api_token_revocations is append-only"):
            with reopened.engine.begin() as conn:
                conn.execute(text("DELETE FROM api_token_revocations"))
        report = verify(reopened)
        assert report.intact, report.findings[:3]
    finally:
        reopened.close()
