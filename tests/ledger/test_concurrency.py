"""Many processes writing at once: nothing lost, no fork, the chain intact, on both backends."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.verify import verify
from tests.ledger.helpers import append_worker, db_url, entries, open_worker

PROCESSES = 8
PER_PROCESS = 500


def run_all(target: Any, args: list[tuple[Any, ...]], home: Path) -> float:
    """Start one spawned process per argument tuple, all released together; return the wall time."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(args))
    processes = [context.Process(target=target, args=(*a, barrier)) for a in args]
    started = time.perf_counter()
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=600)
    elapsed = time.perf_counter() - started
    errors = {p.name: (p.exitcode, *(e.read_text() for e in home.glob("worker-*.error"))) for p in processes
              if p.exitcode != 0}
    assert not errors, errors
    return elapsed


def test_eight_processes_append_at_once(ledger: Ledger) -> None:
    home = ledger.home
    elapsed = run_all(append_worker, [(db_url(ledger), str(home), n, PER_PROCESS) for n in range(PROCESSES)], home)
    chain = entries(ledger)
    total = 1 + PROCESSES * PER_PROCESS
    assert len(chain) == total, f"{total - len(chain)} entries lost"
    assert [e["seq"] for e in chain] == list(range(1, total + 1))
    assert len({e["prev_hash"] for e in chain}) == total, "the chain forked"
    assert all(b["prev_hash"] == a["entry_hash"] for a, b in zip(chain, chain[1:], strict=False))
    subjects = {e["subject"] for e in chain[1:]}
    assert subjects == {f"worker {w} entry {i}" for w in range(PROCESSES) for i in range(PER_PROCESS)}
    with ledger.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM run_states")).scalar_one() == PROCESSES * PER_PROCESS
    report = verify(ledger)
    assert report.intact, report.findings[:5]
    assert report.entries == total
    print(f"\n{ledger.engine.dialect.name}: {PROCESSES} x {PER_PROCESS} appends in {elapsed:.1f} s")


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_eight_processes_create_the_same_ledger_at_once(backend: str, tmp_path: Path, request: Any) -> None:
    """Migrations run on open under a lock: processes starting together make one ledger, one genesis."""
    home = tmp_path / "home"
    home.mkdir()
    url = request.getfixturevalue("pg_url") if backend == "postgres" else f"sqlite:///{home / 'ledger.db'}"
    run_all(open_worker, [(url, str(home), n) for n in range(PROCESSES)], home)
    ids = {p.read_text() for p in home.glob("worker-*.ledger")}
    assert len(ids) == 1, ids
    ledger = Ledger.open(url, home)
    try:
        assert ledger.head()[0] == 1, "more than one genesis"
        assert verify(ledger).intact
    finally:
        ledger.close()


WRITER = """
import sys
from govflow import canonical as canon
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import RunState
ledger = Ledger.open(sys.argv[1], sys.argv[2])
while True:
    with ledger.write("test.append", "until killed") as w:
        w.add(RunState, run_id="victim", state="running", at=canon.utc_now())
    print(w.seq, w.entry_hash, flush=True)
"""


def test_every_acknowledged_write_survives_kill_9(ledger: Ledger) -> None:
    """Durable against a process crash: what `write` returned from is there after SIGKILL."""
    process = subprocess.Popen([sys.executable, "-c", WRITER, db_url(ledger), str(ledger.home)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    acknowledged = []
    for line in process.stdout:
        acknowledged.append(line.split())
        if len(acknowledged) == 200:
            break
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    reopened = Ledger.open(db_url(ledger), ledger.home)
    try:
        chain = {str(e["seq"]): e["entry_hash"] for e in entries(reopened)}
        assert all(chain.get(seq) == entry_hash for seq, entry_hash in acknowledged)
        report = verify(reopened)
        assert report.intact, report.findings[:3]
        assert report.entries >= 201
    finally:
        reopened.close()
