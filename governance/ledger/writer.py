"""Writing to the ledger: the rows of one transaction, and the one transaction of a recorded step.

A `Writer` buffers the rows a transaction adds, stamps them with the transaction's audit sequence
number, inserts them and appends exactly one hash-chained audit entry covering them (the encoding is
in `govflow.canonical`; the standalone bundle verifier re-implements it).

A `StepTransaction` is the transaction of one recorded step (`govflow.flows.recording`): every
``ledger.write`` the step's own code makes (a gate's decision, its documents, an incident's actions,
a monitoring report) joins it instead of committing on its own, and the recording wrapper adds the
step's run record last and commits. The step and everything it wrote land under ONE audit entry, or
not at all: a step that raises rolls back what it wrote (its failure is then recorded on its own), a
process killed mid-step leaves nothing of it. The transaction opens at the step's first write, so a
step that writes nothing itself holds no lock while it runs; from then on the step holds the write
lock, and its reads (``ledger.read``) go through the transaction's connection so it sees its own rows.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection

from govflow import canonical as canon
from govflow.errors import LedgerError
from govflow.governance.ledger.ids import new_id
from govflow.governance.ledger.rows import (
    AUDIT_TABLE,
    COLUMN_KINDS,
    DEFAULTS,
    HEAD_SQL,
    TABLES,
    insert_rows,
    normalise,
    row_hash,
)
from govflow.governance.ledger.schema import Base

log = logging.getLogger("govflow.ledger")

NESTED_WRITE = "ledger.write() inside ledger.write(): add the rows to the open writer instead"
STEP_BROKEN = ("an earlier write of this recorded step failed ({error}); nothing the step wrote is kept. "
               "Check the ledger (--db / GOVFLOW_DB_URL) and run the step again")


class Writer:
    """The rows of one ledger transaction, buffered until they are flushed or it commits."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.seq: int | None = None
        self.entry_hash: str | None = None
        self._after: list[tuple[Any, int]] = []
        self._hashes: dict[str, list[str]] = {}
        self._prev: tuple[str, str] | None = None  # (prev_hash, prev recorded_at), once the head is read
        # Whether the caller added this transaction's predictions to the dashboard's hourly sums itself
        # (`write_predictions`, from its records); else `_commit` counts them from the rows it wrote.
        self.predictions_summed = False

    def then(self, statement: Any, expected_rows: int) -> None:
        """Run ``statement`` after this transaction's rows are inserted, before it commits.

        For a change that the database allows only once the chained rows exist (a purge of
        prediction payloads after its tombstone). It must affect exactly ``expected_rows`` rows,
        or the whole transaction rolls back.
        """
        self._after.append((statement, expected_rows))

    def add(self, model: type[Base], **values: Any) -> dict[str, Any]:
        """Buffer one row of a history table; returns it (with its generated ``id``)."""
        table = model.__tablename__
        if table not in COLUMN_KINDS:
            raise ValueError(f"{table} is not a history table")
        if "id" not in values and "id" in TABLES[table].c:
            values["id"] = new_id()
        defaults = DEFAULTS[table]
        row = {name: normalise(values.get(name, defaults.get(name)), kind) for name, kind in COLUMN_KINDS[table]}
        unknown = set(values) - set(row)
        if unknown:
            raise ValueError(f"{table} has no column(s) {sorted(unknown)}")
        self.rows.setdefault(table, []).append(row)
        return row

    def _insert_buffered(self, cursor: Any) -> None:
        """Insert the rows buffered so far, stamped with this transaction's sequence number (read
        from the head the first time: the write lock is held, so the head cannot move)."""
        if self._prev is None:
            cursor.execute(HEAD_SQL)
            head = cursor.fetchone()
            self.seq, prev, prev_at = (head[0] + 1, head[1], head[2]) if head else (1, canon.GENESIS, "")
            self._prev = (prev, prev_at)
        dialect = self.conn.dialect
        for table, rows in self.rows.items():
            for row in rows:
                row["audit_seq"] = self.seq
            self._hashes.setdefault(table, []).extend(row_hash(table, row) for row in rows)
            insert_rows(cursor, dialect, TABLES[table], rows)
        self.rows = {}

    def insert_own(self, table: str, insert: Callable[[Any, int], list[str]]) -> None:
        """Rows the caller encodes, hashes and inserts itself (the prediction log's batch path):
        ``insert(cursor, seq)`` inserts them stamped with this transaction's ``seq`` and returns
        their row hashes (`row_hash`), which the audit entry covers like those of buffered rows."""
        cursor = self.conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            self._insert_buffered(cursor)  # reads the head (the seq) the first time
            assert self.seq is not None
            self._hashes.setdefault(table, []).extend(insert(cursor, self.seq))
        finally:
            cursor.close()

    def _run_after(self) -> None:
        after, self._after = self._after, []
        for statement, expected in after:
            done = self.conn.execute(statement).rowcount
            if done != expected:
                raise LedgerError(
                    f"a statement after entry {self.seq} affected {done} row(s), expected {expected}; "
                    "the transaction was rolled back and nothing was written"
                )

    def _flush(self) -> None:
        """Insert what is buffered now (a block of a step's transaction), before it commits."""
        cursor = self.conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            self._insert_buffered(cursor)
        finally:
            cursor.close()
        self._run_after()

    def _commit(self, event_type: str, subject: str) -> None:
        """Insert what is still buffered and append the one audit entry covering every row."""
        cursor = self.conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            self._insert_buffered(cursor)
            assert self.seq is not None and self._prev is not None
            prev, prev_at = self._prev
            payload_json = canon.canonical(canon.payload_of(self._hashes)).decode("utf-8")
            payload_hash = canon.sha256_hex(payload_json.encode("utf-8"))
            # Time never runs backwards along the chain (verify flags it): a clock behind the head's
            # (set back, or another writer's ahead) records the head's time. Fixed-width text: its order is time order.
            recorded_at = max(canon.format_ts(canon.utc_now()), prev_at)
            entry = canon.entry_hash(self.seq, recorded_at, event_type, subject, payload_hash, prev)
            insert_rows(cursor, self.conn.dialect, AUDIT_TABLE, [dict(
                seq=self.seq, recorded_at=recorded_at, event_type=event_type, subject=subject,
                payload_json=payload_json, payload_hash=payload_hash, prev_hash=prev, entry_hash=entry)])
        finally:
            cursor.close()
        self.entry_hash = entry
        self._keep_sums()
        self._run_after()

    def _keep_sums(self) -> None:
        """The dashboard's hourly sums (`govflow.governance.trail.rollup`) follow what this entry wrote:
        its predictions added, the predictions of the payloads it purges out of their groups (before
        the purge's deletes run)."""
        assert self.seq is not None
        if "predictions" in self._hashes and not self.predictions_summed:
            from govflow.governance.trail.rollup import add_entry

            add_entry(self.conn, self.seq)
        if "purged_payloads" in self._hashes:
            from govflow.governance.trail.rollup import take_out_purged

            take_out_purged(self.conn, self.seq)


_active: contextvars.ContextVar[StepTransaction | None] = contextvars.ContextVar("govflow_step", default=None)


def active_step(ledger: object) -> StepTransaction | None:
    """The step transaction that writes to ``ledger`` on this thread join, if any."""
    step = _active.get()
    if step is None or step.ledger is not ledger or step.thread != threading.get_ident():
        return None
    return step


class StepTransaction:
    """The one transaction of a recorded step (see the module docstring).

    ``open_transaction`` begins a write transaction on the ledger and returns its writer and the
    function that ends it (``end(commit)``); ``refused`` turns a driver's error into the ledger's.
    A step started inside another step whose transaction is already open joins that transaction.
    """

    # ``ledger`` is only compared by identity: the writer never imports the engine that builds it.
    def __init__(self, ledger: object, open_transaction: Callable[[], tuple[Writer, Callable[[bool], None]]],
                 refused: Callable[[Exception], Exception | None]) -> None:
        self.ledger = ledger
        self.thread = threading.get_ident()
        self.writer: Writer | None = None
        self._open_transaction = open_transaction
        self._refused = refused
        self._end: Callable[[bool], None] | None = None
        self._in_block = False
        self._broken: str | None = None
        outer = active_step(ledger)
        self._outer = outer if outer is not None and outer.writer is not None else None

    @property
    def is_open(self) -> bool:
        return self.writer is not None or self._outer is not None

    @contextmanager
    def active(self) -> Iterator[StepTransaction]:
        """While active, ``ledger.write`` and ``ledger.read`` on this thread go through the step."""
        token = _active.set(self)
        try:
            yield self
        finally:
            _active.reset(token)

    @contextmanager
    def block(self) -> Iterator[Writer]:
        """One ``ledger.write`` of the step: its rows are inserted (not committed) when it ends well,
        dropped when it raises."""
        if self._outer is not None:
            with self._outer.block() as w:
                yield w
            return
        if self._in_block:
            raise RuntimeError(NESTED_WRITE)
        if self._broken is not None:
            raise LedgerError(STEP_BROKEN.format(error=self._broken))
        writer = self._writer()
        self._in_block = True
        try:
            yield writer
        except BaseException:
            writer.rows, writer._after = {}, []
            raise
        finally:
            self._in_block = False
        self._guarded(writer._flush)

    def commit(self, event_type: str, subject: str, add: Callable[[Writer], Any]) -> int | None:
        """Add the step's own record (``add(writer)``) and commit everything under one audit entry.

        Returns the entry's seq; None when the step's transaction was never opened (the step wrote
        nothing itself: the caller writes the record in a transaction of its own). A step inside an
        enclosing step's open transaction adds its record there (the enclosing step commits it).
        """
        if self._broken is not None:
            self.rollback()
            raise LedgerError(STEP_BROKEN.format(error=self._broken))
        if self._outer is not None:
            with self._outer.block() as w:
                add(w)
            return w.seq
        writer, end = self.writer, self._end
        if writer is None or end is None:
            return None
        try:
            add(writer)
            self._guarded(lambda: writer._commit(event_type, subject))
        except BaseException:
            self.rollback()
            raise
        self.writer, self._end = None, None
        self._guarded(lambda: end(True))
        return writer.seq

    def connection(self) -> Connection | None:
        """The open transaction's connection (None before the step's first write)."""
        if self._outer is not None:
            return self._outer.connection()
        return self.writer.conn if self.writer is not None else None

    def rollback(self) -> None:
        """Drop everything the step wrote (nothing when its transaction never opened).

        A rollback that fails (a connection already lost) is logged, not raised: the transaction
        cannot commit either way, and the step's own error is the one to report.
        """
        end, self._end, self.writer = self._end, None, None
        if end is None:
            return
        try:
            end(False)
        except Exception as e:  # noqa: BLE001 - see the docstring
            log.warning("rolling back a recorded step failed: %s", e)

    def _writer(self) -> Writer:
        if self.writer is None:
            try:
                self.writer, self._end = self._open_transaction()
            except Exception as e:
                refused = self._refused(e)
                if refused is None:
                    raise
                raise refused from e
        return self.writer

    def _guarded(self, action: Callable[[], Any]) -> None:
        try:
            action()
        except Exception as e:
            self._broken = str(e).splitlines()[0] if str(e) else type(e).__name__
            refused = self._refused(e)
            if refused is None:
                raise
            raise refused from e
