"""Reliability against a real `govflow serve` process (uvicorn) on a free port.

* 1,000 concurrent requests → exactly 1,000 durable prediction rows, each answered id among them, the
  chain intact (SQLite and PostgreSQL); bad requests before them change nothing.
* ``kill -9`` of the server while it answers → every request answered 200 is in the ledger when it is
  opened afresh afterwards (an answer is only sent once its record is committed).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess

import httpx
from sqlalchemy import select

from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import Prediction
from govflow.governance.ledger.verify import verify
from govflow.governance.registry.versions import VersionRef
from tests.web.serving.helpers import counts, db_url, records, server
from tests.web.serving.rawhttp import Connection

CONCURRENT = 1000


async def _fire(base: str, bodies: list[dict]) -> list[tuple[int, dict]]:
    """Every body on its own connection, all at once: len(bodies) requests in flight together."""
    host, port = base.removeprefix("http://").split(":")
    connections = [Connection(host, int(port)) for _ in bodies]
    await asyncio.gather(*(c.open() for c in connections))
    try:
        return list(await asyncio.gather(*(c.post_json("/predict/credit-scoring", b) for c, b in zip(connections, bodies))))
    finally:
        await asyncio.gather(*(c.close() for c in connections))


def _ids_in_ledger(ledger: Ledger, ids: list[str]) -> set[str]:
    found: set[str] = set()
    with ledger.read() as conn:
        for start in range(0, len(ids), 500):
            found |= set(conn.execute(select(Prediction.id).where(Prediction.id.in_(ids[start:start + 500]))).scalars())
    return found


def test_1000_concurrent_requests_are_1000_durable_records(served: tuple[Ledger, VersionRef]) -> None:
    ledger, _ = served
    with server(ledger) as (base, process):
        before = counts(ledger)
        bad = [httpx.post(f"{base}/predict/credit-scoring", content=b"{oops", timeout=60,
                          headers={"Content-Type": "application/json"}),
               httpx.post(f"{base}/predict/no-such-system", json=records(1)[0], timeout=60),
               httpx.post(f"{base}/predict/credit-scoring", json=records(1001), timeout=60),
               httpx.post(f"{base}/predict/credit-scoring", json=[*records(5), {"duration_in_month": 1}], timeout=60)]
        assert [r.status_code for r in bad] == [400, 404, 413, 422]
        assert bad[2].json() == {"detail": "a batch of 1001 records is over the limit of 1000 per request: split it"}
        assert counts(ledger) == before  # nothing half-written

        answers = asyncio.run(_fire(base, records(CONCURRENT)))
        assert [status for status, _ in answers] == [200] * CONCURRENT
        ids = [body["predictions"][0]["prediction_id"] for _, body in answers]
        assert len(set(ids)) == CONCURRENT
        after = counts(ledger)
        assert after[0] - before[0] == CONCURRENT and after[1] - before[1] == CONCURRENT
        assert after[2] - before[2] < CONCURRENT  # group commit: fewer audit entries than requests
        assert _ids_in_ledger(ledger, ids) == set(ids)
        process.send_signal(signal.SIGKILL)  # no graceful shutdown: the records were already durable
        process.wait(30)
    reopened = Ledger.open(db_url(ledger), ledger.home)
    try:
        assert counts(reopened)[0] - before[0] == CONCURRENT
        report = verify(reopened)
        assert report.intact, report.findings[:3]
    finally:
        reopened.close()


async def _until_killed(base: str, process: subprocess.Popen[bytes], kill_after: int) -> list[str]:
    """Requests from 32 connections; SIGKILL the server the moment the ``kill_after``-th answer arrives."""
    host, port = base.removeprefix("http://").split(":")
    answered: list[str] = []
    stop = asyncio.Event()
    bodies = records(1000)

    async def worker(n: int) -> None:
        connection = await Connection(host, int(port)).open()
        i = n
        try:
            while not stop.is_set():
                status, body = await connection.post_json("/predict/credit-scoring", bodies[i % len(bodies)])
                i += 32
                if status == 200:
                    answered.append(body["predictions"][0]["prediction_id"])
                    if len(answered) == kill_after:
                        os.kill(process.pid, signal.SIGKILL)
                        stop.set()
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            return  # the server is gone
        finally:
            await connection.close()

    await asyncio.gather(*(worker(n) for n in range(32)))
    return answered


def test_kill_9_loses_no_answered_prediction(sqlite_served: tuple[Ledger, VersionRef]) -> None:
    ledger, _ = sqlite_served
    with server(ledger) as (base, process):
        answered = asyncio.run(_until_killed(base, process, kill_after=300))
        process.wait(30)
        assert process.returncode == -signal.SIGKILL
    assert len(answered) >= 300
    reopened = Ledger.open(db_url(ledger), ledger.home)
    try:
        missing = set(answered) - _ids_in_ledger(reopened, answered)
        assert not missing, f"{len(missing)} answered predictions are not in the ledger"
        report = verify(reopened)
        assert report.intact, report.findings[:3]
        logged = counts(reopened)[0]
        assert logged >= len(answered)  # some committed just before the kill were never answered: fine
        with reopened.read() as conn:
            callers = set(conn.execute(select(Prediction.caller)).scalars())
        assert callers == {"anonymous@127.0.0.1"}
    finally:
        reopened.close()
    print(json.dumps({"answered": len(answered), "logged": logged}))
