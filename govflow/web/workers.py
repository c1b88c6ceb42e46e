"""The serving process's workers: the group-commit writer, the WAL checkpointer, the model thread.

`GroupCommitter` is the single writer of `govflow serve`: the records of every request that is
waiting go into one ledger transaction with one audit entry, and each request is released only
once that transaction is committed (`govflow.web.app` then answers 200); on PostgreSQL the transaction
runs in a child process (`govflow.web.writer_process.WriterProcess`). `BatchScorer` runs the model
in its own thread, one call for all the requests that arrived while it was busy. `Checkpointer`
keeps SQLite's WAL checkpoints out of the commits.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import structlog

from govflow.errors import GovflowError
from govflow.flows.serving import ServedModel
from govflow.governance.ledger.engine import Ledger
from govflow.governance.trail import predictions as preds
from govflow.web.writer_process import WriterProcess

COMMIT_ROWS = 5000  # most predictions one group commit writes
UNRECORDED = "the prediction could not be recorded in the ledger ({error}); nothing was served: retry later"

log = structlog.get_logger("govflow.serve")


class LedgerUnavailable(GovflowError, RuntimeError):
    """The group commit failed: the requests waiting on it are answered 503, never 200."""


# -- the group commit ------------------------------------------------------------------------------

@dataclass
class _Pending:
    records: list[preds.PredictionRecord]
    versions: dict[str, str]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[dict[str, str]]


class GroupCommitter:
    """One writer thread: every pending request's records in one transaction, one audit entry.

    Submissions are handed to the thread once per turn of the event loop, all together (the requests
    one model call answered resume in the same turn): handed over one by one, the thread would wake
    on the first and commit it alone, then the next, paying a transaction's fixed cost per request.

    With ``writer_process`` (the default on PostgreSQL) the transaction itself runs in a child
    process (`WriterProcess`), and the thread only hands the batch over and waits for the receipt.
    A commit on PostgreSQL is a handful of round trips to the server; in the serving process each
    one ended with a wait for the GIL, held in turn by the event loop and the model thread, so a
    commit of a few milliseconds took several times that while every request in it waited. The
    child has a GIL of its own. SQLite commits in microseconds, in the thread.
    """

    def __init__(self, ledger: Ledger, *, max_rows: int = COMMIT_ROWS, writer_process: bool | None = None) -> None:
        self.ledger = ledger
        self.max_rows = max_rows
        self.writer = WriterProcess(ledger) if (not ledger.is_sqlite if writer_process is None else writer_process) else None
        self.queue: queue.Queue[list[_Pending] | None] = queue.Queue()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()
        self.batches = 0
        self.committing = False
        self._turn: list[_Pending] = []  # submitted in this turn of the (one) serving event loop

    @property
    def in_process(self) -> bool:
        """True when the transactions run in this process (and so share its GIL)."""
        return self.writer is None

    def start(self) -> None:
        with self.lock:
            if self.thread is None:
                if self.writer is not None:
                    self.writer.start()
                self.thread = threading.Thread(target=self._run, name="govflow-group-commit", daemon=True)
                self.thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Write what is queued, then end the thread."""
        with self.lock:
            thread, self.thread = self.thread, None
        if thread is not None:
            self.queue.put(None)
            thread.join(timeout)
        if self.writer is not None:
            self.writer.stop(timeout)

    async def submit(self, records: list[preds.PredictionRecord], versions: dict[str, str]) -> dict[str, str]:
        """Wait until the records are committed; returns the refused ones (id -> reason)."""
        self.start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[str, str]] = loop.create_future()
        if not self._turn:
            loop.call_soon(self._hand_over)
        self._turn.append(_Pending(records, versions, loop, future))
        return await future

    def _hand_over(self) -> None:
        turn, self._turn = self._turn, []
        self.queue.put(turn)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self.queue.get()
            if first is None:
                break
            batch = list(first)
            rows = sum(len(item.records) for item in batch)
            while rows < self.max_rows:
                try:
                    more = self.queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                batch += more
                rows += sum(len(item.records) for item in more)
            self._commit(batch)

    def _commit(self, batch: list[_Pending]) -> None:
        self.committing = True
        try:
            self._write(batch)
        finally:
            self.committing = False

    def _write(self, batch: list[_Pending]) -> None:
        started = time.perf_counter()
        records = [r for item in batch for r in item.records]
        versions = {k: v for item in batch for k, v in item.versions.items()}
        try:
            if self.writer is not None:
                receipt = self.writer.write(records, versions)
            else:
                receipt = preds.write_predictions(self.ledger, records, versions=versions)
        except Exception as e:  # any failure to write: every waiting request is refused, none served
            reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            log.error("ledger.write_failed", requests=len(batch), rows=len(records), error_type=type(e).__name__)
            _settle(batch, lambda item: LedgerUnavailable(UNRECORDED.format(error=reason)))
            return
        self.batches += 1
        log.info("ledger.batch_committed", seq=receipt.seq, requests=len(batch), rows=receipt.written,
                 refused=len(receipt.refused), ms=round((time.perf_counter() - started) * 1000, 2))
        _settle(batch, lambda item: {r.id: receipt.refused[r.id] for r in item.records if r.id in receipt.refused})


def _settle(batch: list[_Pending], outcome: Callable[[_Pending], dict[str, str] | Exception]) -> None:
    """Release the waiting requests: one wake-up of each event loop for the whole batch."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Pending, dict[str, str] | Exception]]] = {}
    for item in batch:
        by_loop.setdefault(item.loop, []).append((item, outcome(item)))

    def settle(items: list[tuple[_Pending, dict[str, str] | Exception]]) -> None:
        for item, result in items:
            if item.future.done():  # the client went away; its records are written all the same
                continue
            if isinstance(result, Exception):
                item.future.set_exception(result)
            else:
                item.future.set_result(result)

    for loop, items in by_loop.items():
        try:
            loop.call_soon_threadsafe(settle, items)
        except RuntimeError:  # the event loop is closed: nobody is waiting any more
            pass


class Checkpointer:
    """SQLite: the WAL is checkpointed by a background thread, not inside the commits.

    By default SQLite checkpoints in whichever commit finds more than 1,000 pages in the WAL: that
    commit then copies the WAL into the database file and syncs it, and every request waiting on it
    waits too. The serving process turns that off for its own connections and checkpoints twice a
    second from this thread (PASSIVE: it never blocks a writer). Durability is unchanged: a commit is
    durable once in the WAL; a checkpoint only moves committed pages into the main file.
    """

    def __init__(self, ledger: Ledger, every_s: float = 0.5) -> None:
        self.ledger = ledger
        self.every_s = every_s
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        if not self.ledger.is_sqlite or self.thread is not None:
            return
        from sqlalchemy import event

        @event.listens_for(self.ledger.engine, "connect")
        def _no_autocheckpoint(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute("PRAGMA wal_autocheckpoint = 0")

        self.ledger.engine.dispose()  # connections made from now on take the setting
        self.thread = threading.Thread(target=self._run, name="govflow-checkpoint", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.wait(self.every_s):
            self.checkpoint("PASSIVE")

    def checkpoint(self, mode: str) -> None:
        try:
            raw = self.ledger.engine.raw_connection()
            try:
                raw.driver_connection.execute(f"PRAGMA wal_checkpoint({mode})")  # type: ignore[union-attr]
            finally:
                raw.close()
        except Exception as e:  # a missed checkpoint only lets the WAL grow until the next one
            log.warning("ledger.checkpoint_failed", error_type=type(e).__name__)

    def stop(self) -> None:
        if self.thread is not None:
            self.stopped.set()
            self.thread.join(10)
            self.thread = None
            self.checkpoint("PASSIVE")


# -- scoring the requests that arrive together in one model call ---------------------------------

YIELD_S = 0.0005  # how often a model call waiting for a commit looks again


class BatchScorer:
    """Dynamic batching: the model runs in its own thread, and every request that arrives while it
    is busy goes into its next call, together.

    A model call has a fixed cost (a scikit-learn pipeline: milliseconds) that dwarfs its cost per
    row, so under load one call serves many requests; meanwhile the event loop stays free to read
    requests and send the answers whose records are committed. Scores do not depend on the company
    a row keeps (randomised decisions are drawn from a hash of the row, `govflow.flows.models.tabular.row_draw`).

    With ``yield_to``, a model call does not start while that committer is writing: both need the
    GIL, and a commit that shares it with a model call takes several times longer, while every
    request in it waits (measured: 1.2 ms alone, 6 ms against two busy threads). Answers come out
    sooner when the commit goes first.
    """

    Waiting = list[tuple[ServedModel, list[preds.ValidRecord], "asyncio.Future[list[dict[str, Any]]]"]]

    def __init__(self, yield_to: GroupCommitter | None = None) -> None:
        self.pending: dict[str, BatchScorer.Waiting] = {}
        self.busy = False
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="govflow-score")
        self.yield_to = yield_to
        self.calls = 0
        self.rows = 0

    async def predict(self, served: ServedModel, valid: list[preds.ValidRecord]) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[dict[str, Any]]] = loop.create_future()
        self.pending.setdefault(served.version.id, []).append((served, valid, future))
        if not self.busy:
            self.busy = True
            loop.call_soon(self._next, loop)
        return await future

    def _next(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self.pending:
            self.busy = False
            return
        if self.yield_to is not None and self.yield_to.committing:
            loop.call_later(YIELD_S, self._next, loop)
            return
        version_id = next(iter(self.pending))
        items = self.pending.pop(version_id)
        self.calls += 1
        self.rows += sum(len(valid) for _, valid, _ in items)
        served = items[0][0]
        rows = [v for _, valid, _ in items for v in valid]
        call = loop.run_in_executor(self.executor, served.predict, rows)
        call.add_done_callback(lambda done: self._deliver(loop, items, done))

    def _deliver(self, loop: asyncio.AbstractEventLoop, items: BatchScorer.Waiting, done: asyncio.Future[Any]) -> None:
        error = done.exception()
        start = 0
        for _, valid, future in items:
            if not future.done():
                if error is not None:  # the model failed: each request of the call gets the error
                    future.set_exception(error)
                else:
                    future.set_result(done.result()[start:start + len(valid)])
            start += len(valid)
        self._next(loop)

    def stop(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
