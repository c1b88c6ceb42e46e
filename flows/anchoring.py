"""Anchoring without anyone having to remember it: after every command that wrote, and from `serve`.

The CLI notes the ledger's head when a command opens the ledger and, when the command ends, publishes
the new head if it moved (`AnchorOnExit`): one place for every writing command, nothing on the
recording path. `serve` publishes from a thread of its own at most once a second, only when the head
moved (`PeriodicAnchor`): requests never wait for it.

``heads.log`` in the home is always written, and a failure there is the command's failure (exit 2);
an external sink that cannot be reached is a warning: the next head published covers this one.
"""

from __future__ import annotations

import errno
import logging
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from govflow.errors import GovflowError
from govflow.governance.ledger.anchor_settings import AnchorSettings
from govflow.governance.ledger.anchors import (
    AnchorError,
    FolderSink,
    HeadsFile,
    HttpSink,
    Sink,
    current_head,
    home_log,
)
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.runs import RunRecord

if TYPE_CHECKING:
    from govflow.governance.ledger.anchor_keys import Signer

log = logging.getLogger("govflow.anchors")
_last_flow_run: list[str] = []  # the Prefect id of the last root govflow flow run of this process


def sinks(settings: AnchorSettings, home: Path, *, with_home_log: bool = True) -> list[Sink]:
    """heads.log first, then the configured sinks, in order."""
    from govflow.flows.anchor_prefect import PrefectSink

    made: list[Sink] = [home_log(home)] if with_home_log else []
    for kind, target in settings.sinks:
        if kind == "file":
            made.append(HeadsFile(Path(target)))
        elif kind == "folder":
            made.append(FolderSink(Path(target)))
        elif kind == "http":
            made.append(HttpSink(target))
        else:
            made.append(PrefectSink(_last_flow_run[-1] if _last_flow_run else None))
    return made


def publish(ledger: Ledger, settings: AnchorSettings, signer: Signer | None = None) -> list[str]:
    """Publish the ledger's head everywhere; warnings for the external sinks that failed.

    heads.log failing raises `AnchorError` after the others were tried. ``signer``: the settings' key,
    when the caller loaded it already.
    """
    head = current_head(ledger, signer or settings.signer())
    warnings, local_error = [], None
    for sink in sinks(settings, ledger.home):
        try:
            sink.publish(head)
        except AnchorError as e:
            if sink.name == "heads.log":
                local_error = e
            else:
                warnings.append(f"anchor {sink.name} not updated ({e}); the next head published there covers this one")
    if local_error is not None:
        raise local_error
    return warnings


def remember_flow_runs(event: str, rec: RunRecord) -> None:
    """A recording listener: the Prefect flow run a head published by this process belongs to."""
    if rec.kind == "flow" and rec.parent_run_id is None and rec.prefect_flow_run_id and event != "START":
        _last_flow_run.append(rec.prefect_flow_run_id)
        del _last_flow_run[:-1]


class AnchorOnExit:
    """Entered for every CLI command (``typer_ctx.with_resource``); publishes at exit if the head moved.

    ``context`` is the CLI's `govflow.cli.main.Context`: ``opened_head`` is the head when the command opened
    the ledger (None when it never did), ``anchor_settings`` the settings in force.
    """

    def __init__(self, context: Any) -> None:
        self.context = context

    def __enter__(self) -> AnchorOnExit:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        ledger, before = self.context._ledger, self.context.opened_head
        if ledger is None or before is None:
            return
        failed = exc_type is not None and not _clean_exit(exc)
        try:
            if head_or_none(ledger) in (before, None):
                return
            for warning in publish(ledger, self.context.anchor_settings()):
                print(f"warning: {warning}", file=sys.stderr)
        except GovflowError as e:
            if not failed:
                raise
            print(f"warning: the chain head was not anchored: {e}", file=sys.stderr)  # the command's own error wins


def _clean_exit(exc: BaseException | None) -> bool:
    return type(exc).__name__ == "Exit" and getattr(exc, "exit_code", 1) == 0


class PeriodicAnchor:
    """`serve`: a thread that publishes the head at most every ``every_s`` seconds, when it moved."""

    def __init__(self, ledger: Ledger, settings: AnchorSettings, every_s: float = 1.0) -> None:
        self.ledger = ledger
        self.settings = settings
        self.signer = settings.signer()  # a key that cannot be used stops serve before it starts
        self.every_s = every_s
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None
        self.last: tuple[int, str] | None = None
        self.published = 0

    def start(self) -> None:
        if self.thread is not None:
            return
        self.last = self.ledger.head()
        self.thread = threading.Thread(target=self._run, name="govflow-anchor", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.thread is None:
            return
        self.stopped.set()
        self.thread.join(timeout=10)
        self.thread = None
        self.tick()  # what was written since the last tick

    def _run(self) -> None:
        while not self.stopped.wait(self.every_s):
            self.tick()

    def tick(self) -> None:
        try:
            head = self.ledger.head()
            if head == self.last:
                return
            for warning in publish(self.ledger, self.settings, self.signer):
                log.warning(warning)
            self.last = head
            self.published += 1
        except Exception as e:  # noqa: BLE001 - serving goes on; the next tick tries again
            log.warning("the chain head was not anchored: %s", e)


def head_or_none(ledger: Ledger) -> tuple[int, str] | None:
    """The head, or None where there is none to anchor (a chain emptied by tampering: verify's to say)."""
    try:
        return ledger.head()
    except Exception:  # noqa: BLE001 - reading the head only decides whether to anchor later
        return None


def check(ledger: Ledger, settings: AnchorSettings, *, everywhere: bool) -> Any:
    """`verify`: heads.log against the chain; ``everywhere`` (``--anchors``): every configured sink too."""
    from govflow.governance.ledger.anchors import check as check_heads

    chosen = sinks(settings, ledger.home) if everywhere else [home_log(ledger.home)]
    return check_heads(ledger, chosen, settings.verifier(), strict_identity=everywhere)


def record_verified(ledger: Ledger, seq: int, entry_hash: str, settings: AnchorSettings) -> None:
    """An intact verify appends the head it checked to heads.log: signed with the key when there is
    one; not at all where heads must be signed and this user has only the public key (an auditor)."""
    from govflow.canonical import format_ts, utc_now
    from govflow.governance.ledger.anchors import Head, home_log

    if settings.public_key and not settings.key:
        return
    head = Head(ledger.ledger_id(), seq, entry_hash, format_ts(utc_now())).signed(settings.signer())
    try:
        home_log(ledger.home).publish(head)
    except AnchorError as e:
        if e.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise
        # An auditor verifying a ledger on a read-only mount: the check stands; only the record is missing.
        print(f"warning: the verified head was not recorded: {e}", file=sys.stderr)
