"""Helpers for the ledger tests: a realistic recorded step, and a DBA's direct access.

The "DBA" helpers go around govflow on purpose: they drop the append-only triggers and edit the
tables with plain SQL, which is what someone with the database password could do. The tests then
check that `verify` notices.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import text

from govflow import canonical as canon
from govflow.governance.ledger.engine import TABLES, Ledger, row_hash
from govflow.governance.ledger.schema import CheckResultRow, DatasetVersion, Edge, Run, RunState

GOVFLOW = str(Path(sys.executable).with_name("govflow"))


def db_url(ledger: Ledger) -> str:
    """The ledger's URL, password included, as `--db` takes it."""
    return ledger.engine.url.render_as_string(hide_password=False)


def record_step(ledger: Ledger, name: str = "train", n: int = 0) -> dict[str, Any]:
    """Record one task the way a recorded step does: run, states, 2 inputs, 1 output, 3 checks."""
    now = canon.utc_now()
    with ledger.write("task.completed", f"run {name}-{n}") as w:
        run = w.add(Run, kind="task", name=name, params_json=canon.canonical({"n": n, "alpha": 0.5}).decode(),
                    code_ref="0123abc", env_json='{"pandas":"2.3.3"}', started_at=now)
        w.add(RunState, run_id=run["id"], state="running", at=now)
        w.add(RunState, run_id=run["id"], state="completed", at=canon.utc_now())
        out = w.add(DatasetVersion, name=f"{name}-out", fingerprint=f"fp1:{os.urandom(32).hex()}",
                    row_count=1000 + n, created_at=now, produced_by_run_id=run["id"])
        for role in ("train", "test"):
            w.add(Edge, run_id=run["id"], direction="input", role=role, entity_kind="dataset",
                  fingerprint=f"fp1:{os.urandom(32).hex()}")
        w.add(Edge, run_id=run["id"], direction="output", role="return", entity_kind="dataset",
              entity_id=out["id"], fingerprint=out["fingerprint"])
        for i, kind in enumerate(("validation", "fairness", "performance")):
            w.add(CheckResultRow, run_id=run["id"], kind=kind, name=f"check-{i}", subject="frame",
                  passed=1, observed_json=json.dumps(0.1 * i), threshold_json="0.5", severity="error",
                  details_json="{}")
    return {"run": run, "seq": w.seq, "entry_hash": w.entry_hash}


def execute(ledger: Ledger, sql: str, **params: Any) -> Any:
    """Run one statement directly, in its own transaction (a DBA at the SQL prompt)."""
    with ledger.engine.begin() as conn:
        return conn.execute(text(sql), params)


def drop_triggers(ledger: Ledger) -> None:
    """Remove every append-only trigger, as a DBA with full rights could."""
    with ledger.engine.begin() as conn:
        if ledger.is_sqlite:
            names = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars().all()
            for name in names:
                conn.execute(text(f'DROP TRIGGER "{name}"'))
        else:
            rows = conn.execute(
                text("SELECT tgname, tgrelid::regclass::text FROM pg_trigger WHERE NOT tgisinternal")
            ).all()
            for name, table in rows:
                conn.execute(text(f'DROP TRIGGER "{name}" ON {table}'))
    assert not _triggers(ledger)


def _triggers(ledger: Ledger) -> list[str]:
    sql = (
        "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        if ledger.is_sqlite
        else "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
    )
    with ledger.read() as conn:
        return list(conn.execute(text(sql)).scalars())


def entries(ledger: Ledger) -> list[dict[str, Any]]:
    with ledger.read() as conn:
        return [dict(r) for r in conn.execute(text("SELECT * FROM audit_log ORDER BY seq")).mappings()]


def rewrite_chain(ledger: Ledger, from_seq: int) -> str:
    """Forge a consistent chain: recompute payloads from the rows as they are now, and every link.

    Returns the new head. Only an exported head (``--head``, ``heads.log``) can catch this.
    """
    rows_by_seq: dict[int, dict[str, list[str]]] = {}
    with ledger.read() as conn:
        for name, table in TABLES.items():
            for row in conn.execute(table.select().where(table.c.audit_seq >= from_seq)).mappings():
                rows_by_seq.setdefault(row["audit_seq"], {}).setdefault(name, []).append(row_hash(name, dict(row)))
    from tests.ledger.dba import unguarded

    prev = canon.GENESIS
    with unguarded(ledger) as conn:
        for entry in entries(ledger):
            seq = entry["seq"]
            if seq < from_seq:
                prev = entry["entry_hash"]
                continue
            payload_json = canon.canonical(canon.payload_of(rows_by_seq.get(seq, {}))).decode()
            payload_hash = canon.sha256_hex(payload_json.encode())
            new = canon.entry_hash(seq, entry["recorded_at"], entry["event_type"], entry["subject"], payload_hash, prev)
            conn.execute(
                text("UPDATE audit_log SET payload_json = :pj, payload_hash = :ph, prev_hash = :prev, "
                     "entry_hash = :eh WHERE seq = :seq"),
                dict(pj=payload_json, ph=payload_hash, prev=prev, eh=new, seq=seq),
            )
            prev = new
    return prev


def govflow(*args: str, home: Path, db: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real `govflow` command line, as a user would."""
    cmd = [GOVFLOW] + (["--db", db] if db else []) + ["--home", str(home), *args]
    env = {k: v for k, v in os.environ.items() if k not in ("GOVFLOW_DB_URL", "GOVFLOW_HOME")}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def append_worker(url: str, home: str, worker: int, count: int, barrier: Any) -> None:
    """A separate process: open its own ledger, wait for the others, then append `count` entries."""
    from govflow.governance.ledger.schema import RunState

    try:
        ledger = Ledger.open(url, home)
        barrier.wait(timeout=120)
        for i in range(count):
            with ledger.write("test.append", f"worker {worker} entry {i}") as w:
                w.add(RunState, run_id=f"w{worker}", state="running", at=canon.utc_now())
        ledger.close()
    except BaseException as e:
        Path(home, f"worker-{worker}.error").write_text(f"{type(e).__name__}: {e}")
        raise


def open_worker(url: str, home: str, worker: int, barrier: Any) -> None:
    """A separate process: open (create and migrate) the ledger at the same moment as the others."""
    try:
        barrier.wait(timeout=120)
        ledger = Ledger.open(url, home)
        Path(home, f"worker-{worker}.ledger").write_text(ledger.ledger_id())
        ledger.close()
    except BaseException as e:
        Path(home, f"worker-{worker}.error").write_text(f"{type(e).__name__}: {e}")
        raise
