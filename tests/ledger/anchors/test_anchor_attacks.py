"""Attacks an anchor must catch: truncation, rollback to an older copy, a forged chain with recomputed
hashes, and a forged anchor. Each through each kind of sink, on SQLite and PostgreSQL.

The attacker has the database and the files beside it (``heads.log`` included, which they delete),
but neither the sink elsewhere nor the signing key: only `verify --anchors` can tell.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.engine import make_url

from govflow.governance.ledger.anchor_keys import Signer
from govflow.governance.ledger.anchors import Head, HeadsFile
from govflow.governance.ledger.engine import TABLES, Ledger
from tests.ledger.anchors.conftest import Anchor, AnchorServer, Key, anchors_env, govflow_cli, triggers_off
from tests.ledger.helpers import db_url, execute, record_step, rewrite_chain


def anchored(ledger: Ledger, anchor: Anchor, key: Key) -> tuple[int, str]:
    """A few recorded steps, then a writing command (`token create`), which anchors the head."""
    for n in range(4):
        record_step(ledger, n=n)
    created = govflow_cli(ledger, "token", "create", "--role", "auditor", anchors=signed(anchor, key))
    assert created.returncode == 0, created.stderr
    assert "warning" not in created.stderr
    head = ledger.head()
    agree = govflow_cli(ledger, "verify", "--anchors", anchors=signed(anchor, key))
    assert agree.returncode == 0, agree.stderr
    assert agree.stdout.splitlines()[-1] == (
        f"anchors agree: heads.log (1 head(s), latest seq {head[0]}); {anchor.name} (1 head(s), latest seq {head[0]})")
    return head


def signed(anchor: Anchor, key: Key) -> str:
    return anchors_env(anchor.item, f"key:{key.path}", f"public-key:{key.public}")


def checking(anchor: Anchor, key: Key) -> str:
    """What an auditor configures: the anchor and the public key, not the private key."""
    return anchors_env(anchor.item, f"public-key:{key.public}")


def caught(result: Any, anchor: Anchor, head: tuple[int, str], problem: str) -> None:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stderr.splitlines()[0] == (
        f"TAMPERING FOUND: 1 finding(s); first broken: outside the chain: anchor {anchor.name}: "
        f"head {head[0]} {head[1][:16]}...: {problem}")


def remove_heads_log(ledger: Ledger) -> None:
    (ledger.home / "heads.log").unlink()  # it sits beside the ledger: the attacker removes it too


def truncate(ledger: Ledger, keep: int) -> None:
    """Delete every entry after ``keep`` and the rows they recorded: what is left is a consistent chain."""
    with triggers_off(ledger):
        for name in TABLES:
            execute(ledger, f"DELETE FROM {name} WHERE audit_seq > :keep", keep=keep)
        execute(ledger, "DELETE FROM audit_log WHERE seq > :keep", keep=keep)


def test_truncation_is_caught_by_the_anchor(ledger: Ledger, anchor: Anchor, key: Key) -> None:
    head = anchored(ledger, anchor, key)
    truncate(ledger, keep=head[0] - 2)
    remove_heads_log(ledger)
    unaware = govflow_cli(ledger, "verify", anchors=checking(anchor, key))
    assert unaware.returncode == 0, unaware.stderr  # the chain left is consistent: only an anchor knows
    result = govflow_cli(ledger, "verify", "--anchors", anchors=checking(anchor, key))
    caught(result, anchor, head, f"the ledger ends at seq {head[0] - 2}, before this anchored head: entries were "
                                 "removed (truncation, or a rollback to an older copy)")


def test_rollback_to_an_older_copy_is_caught_by_the_anchor(ledger: Ledger, anchor: Anchor, key: Key,
                                                           tmp_path: Path, request: pytest.FixtureRequest) -> None:
    for n in range(3):
        record_step(ledger, n=n)
    old_seq = ledger.head()[0]
    older = snapshot(ledger, tmp_path)
    if not ledger.is_sqlite:  # the copy is a database of its own: dropped with the test's (it was left behind)
        databases = request.getfixturevalue("pg_databases")
        request.addfinalizer(lambda: databases.drop_later(str(make_url(older).database)))
    head = anchored(ledger, anchor, key)
    db = restore(ledger, older)
    remove_heads_log(ledger)
    result = govflow_cli(ledger, "verify", "--anchors", anchors=checking(anchor, key), db=db)
    caught(result, anchor, head, f"the ledger ends at seq {old_seq}, before this anchored head: entries were "
                                 "removed (truncation, or a rollback to an older copy)")


def snapshot(ledger: Ledger, tmp_path: Path) -> str:
    """A copy of the whole ledger as it is now: a backup file (SQLite) or database (PostgreSQL)."""
    if ledger.is_sqlite:
        copy = tmp_path / "backup.db"
        with sqlite3.connect(str(ledger.engine.url.database)) as src, sqlite3.connect(copy) as dst:
            src.backup(dst)
        return str(copy)
    url = make_url(db_url(ledger))
    name = f"{url.database}_old"
    ledger.close()  # its connections go; the next write opens new ones
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                     (url.database,))
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{url.database}"')
    return url.set(database=name).render_as_string(hide_password=False)


def restore(ledger: Ledger, older: str) -> str:
    """Put the older copy in the ledger's place; returns the URL the rolled-back ledger is at."""
    if ledger.is_sqlite:
        with sqlite3.connect(older) as src, sqlite3.connect(str(ledger.engine.url.database)) as dst:
            src.backup(dst)
        return db_url(ledger)
    return older  # the server now answers with yesterday's database


def forge_chain(ledger: Ledger) -> str:
    """A check result turned to failed, and every hash from there recomputed; returns the new head."""
    with triggers_off(ledger):
        execute(ledger, "UPDATE check_results SET passed = 0 WHERE audit_seq = 3")
        return rewrite_chain(ledger, 3)


def test_forged_chain_with_recomputed_hashes_is_caught_by_the_anchor(ledger: Ledger, anchor: Anchor, key: Key) -> None:
    head = anchored(ledger, anchor, key)
    forged = forge_chain(ledger)
    assert forged != head[1]
    remove_heads_log(ledger)
    unaware = govflow_cli(ledger, "verify", anchors=checking(anchor, key))
    assert unaware.returncode == 0, unaware.stderr
    result = govflow_cli(ledger, "verify", "--anchors", anchors=checking(anchor, key))
    caught(result, anchor, head, "an exported chain head is no longer in the chain: the chain was rewritten "
                                 f"(seq {head[0]} now holds {forged[:16]}...)")


@pytest.mark.parametrize("forger", ["old signature", "own key", "unsigned"])
def test_forged_anchor_is_caught_by_its_signature(ledger: Ledger, key: Key, tmp_path: Path, forger: str) -> None:
    """The attacker rewrites the chain and the anchor file to match, but cannot sign as the key."""
    path = tmp_path / "elsewhere" / "heads.log"
    anchor = Anchor("file", f"file:{path}", str(path))
    head = anchored(ledger, anchor, key)
    forged_hash = forge_chain(ledger)
    real = HeadsFile(path).read()[0]
    forged = Head(real.ledger_id, real.seq, forged_hash, real.at, real.key_id, real.signature)
    if forger == "own key":
        forged = Head(real.ledger_id, real.seq, forged_hash, real.at).signed(Signer(Ed25519PrivateKey.generate()))
    elif forger == "unsigned":
        forged = Head(real.ledger_id, real.seq, forged_hash, real.at)
    path.write_text(forged.line())
    (ledger.home / "heads.log").write_text(forged.line())
    result = govflow_cli(ledger, "verify", "--anchors", anchors=checking(anchor, key))
    problem = {"old signature": "its signature does not verify against the configured public key: a forged anchor",
               "own key": f"it is signed by key {forged.key_id}, not by the configured key {key.key_id}: a forged anchor",
               "unsigned": "it is not signed, but a public key is configured: a forged anchor (or one written without the key)"}
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == (f"TAMPERING FOUND: 2 finding(s); first broken: outside the chain: anchor heads.log: "
                        f"head {head[0]} {forged_hash[:16]}...: {problem[forger]}")
    assert lines[1] == f"  outside the chain: anchor {path}: head {head[0]} {forged_hash[:16]}...: {problem[forger]}"


def test_forged_head_posted_to_the_http_anchor_is_caught(ledger: Ledger, key: Key, anchor_server: AnchorServer) -> None:
    anchor = Anchor("http", anchor_server.url, anchor_server.url)
    head = anchored(ledger, anchor, key)
    stolen = dict(anchor_server.heads[-1])
    stolen["entry_hash"] = "0" * 63 + "1"
    anchor_server.heads.append(stolen)  # anyone may POST to the endpoint; only the key signs
    result = govflow_cli(ledger, "verify", "--anchors", anchors=checking(anchor, key))
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == (
        f"TAMPERING FOUND: 1 finding(s); first broken: outside the chain: anchor {anchor.name}: head {head[0]} "
        "0000000000000000...: its signature does not verify against the configured public key: a forged anchor")
    assert json.loads(json.dumps(anchor_server.heads[0]))["signature"] == base64.b64encode(
        base64.b64decode(anchor_server.heads[0]["signature"])).decode()
