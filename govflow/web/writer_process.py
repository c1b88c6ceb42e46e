"""The ledger writer process of `govflow serve` on PostgreSQL (see `govflow.web.workers.GroupCommitter`).

A module of its own, importing only the ledger side: the child process imports it to start, and
should not pay for the model and web stack.
"""

from __future__ import annotations

from typing import Any

from govflow.errors import GovflowError
from govflow.governance.ledger.engine import Ledger
from govflow.governance.trail import predictions as preds


class WriterProcess:
    """`govflow.governance.trail.predictions.write_predictions` in a child process, one batch at a time.

    The child (started with ``spawn``: a fresh interpreter, never a fork of the threaded server)
    opens the same ledger and answers each batch with its `Receipt` once the transaction is
    committed, or with the error that stopped it (nothing committed). It ignores SIGINT (Ctrl-C
    reaches the whole process group: the server stops it in order, after the last batch) and ends
    when the server closes the pipe, also when the server was killed. If the child dies, the batch
    in flight is answered 503 (never 200: its commit is not known) and the next batch starts a new
    child.
    """

    def __init__(self, ledger: Ledger) -> None:
        self.url = ledger.engine.url.render_as_string(hide_password=False)
        self.home = str(ledger.home)
        self.process: Any = None
        self.pipe: Any = None

    def start(self) -> None:
        """Start the child, unless it runs (a dead one is replaced)."""
        if self.process is not None and self.process.is_alive():
            return
        self._discard()
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(target=_writer_main, args=(self.url, self.home, theirs),
                                  name="govflow-ledger-writer", daemon=True)
        process.start()
        theirs.close()
        self.process, self.pipe = process, ours

    def write(self, records: list[preds.PredictionRecord], versions: dict[str, str]) -> preds.Receipt:
        self.start()
        try:
            self.pipe.send(([r.for_writing() for r in records], versions))
            answer = self.pipe.recv()
        except (EOFError, OSError) as e:
            self._discard()
            raise WriterError(WRITER_GONE) from e
        if isinstance(answer, preds.Receipt):
            return answer
        kind, message = answer
        raise WriterError(f"{message} ({kind})" if not message.startswith(kind) else message)

    def _discard(self) -> None:
        process, pipe, self.process, self.pipe = self.process, self.pipe, None, None
        if pipe is not None:
            pipe.close()
        if process is not None:
            process.join(5)
            if process.is_alive():
                process.kill()

    def stop(self, timeout: float = 30.0) -> None:
        """Let the child finish its batch and end."""
        if self.process is None:
            return
        try:
            self.pipe.send(None)
        except OSError:
            pass
        self.process.join(timeout)
        self._discard()


class WriterError(GovflowError, RuntimeError):
    """The writer process could not write a batch (its reason, from the child)."""


WRITER_GONE = "the ledger writer process stopped"


def _writer_main(url: str, home: str, pipe: Any) -> None:
    """The child's loop: receive a batch, write it, answer the receipt (or the error)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    ledger: Ledger | None = None
    try:
        while True:
            try:
                message = pipe.recv()
            except (EOFError, OSError):  # the server is gone
                return
            if message is None:
                return
            records, versions = message
            try:
                ledger = ledger or Ledger.open(url, home)
                answer: Any = preds.write_predictions(ledger, records, versions=versions)
            except Exception as e:  # reported to the server, which answers 503 to the batch
                answer = (type(e).__name__, (str(e).strip().splitlines() or [type(e).__name__])[0][:500])
            try:
                pipe.send(answer)
            except OSError:  # the server is gone; what was committed stays committed
                return
    finally:
        if ledger is not None:
            ledger.close()
