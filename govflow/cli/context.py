"""What every command is handed: the `Context` (the ledger, the home) and the options many share.

Command modules import this, never `govflow.cli.main`: main imports them to build the tree. Light on
purpose: nothing here loads SQLAlchemy, Prefect or pandas, so `govflow --help` stays fast.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from govflow.governance.ledger.engine import Ledger

ConfigOption = Annotated[Path, typer.Option("-c", "--config", help="The system's govflow.yaml.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (exact numbers, for programs).")]


@dataclass
class Context:
    db: str | None
    home: Path
    _ledger: Ledger | None = field(default=None, repr=False)
    opened_head: tuple[int, str] | None = None  # the head when this command opened the ledger (anchoring)
    anchors_config: Any = None  # the loaded govflow.yaml, whose anchors: section applies (govflow.flows.anchoring)

    def ledger(self) -> Ledger:
        if self._ledger is None:
            from govflow.flows.anchoring import head_or_none
            from govflow.governance.ledger.engine import Ledger

            self._ledger = Ledger.open(self.db, self.home)
            self.opened_head = head_or_none(self._ledger)
        return self._ledger

    def anchor_settings(self) -> Any:
        """The anchors in force: GOVFLOW_ANCHORS, else the anchors: section of the config loaded, else heads.log."""
        from govflow.governance.ledger.anchor_settings import resolve

        config = self.anchors_config
        if config is None:
            return resolve()
        return resolve(config.anchors, Path(config.base_dir), "govflow.yaml")


def ctx(typer_ctx: typer.Context) -> Context:
    """The `Context` the root callback made (sub-commands reach it through their parents)."""
    return typer_ctx.find_root().obj  # type: ignore[no-any-return]


def resolve_home(home: str | Path | None = None) -> Path:
    """The govflow home: ``--home``, else ``GOVFLOW_HOME``, else ``./.govflow``.

    The rule of `govflow.governance.ledger.engine.resolve_home` (a test holds them equal), kept here so
    that starting a command does not load the ledger's modules before it needs them.
    """
    return Path(home or os.environ.get("GOVFLOW_HOME") or ".govflow").absolute()


class AnchorAtExit:
    """Publishes the head a writing command leaves (`govflow.flows.anchoring.AnchorOnExit`), loading the
    anchoring code only when the command opened the ledger."""

    def __init__(self, context: Context) -> None:
        self.context = context

    def __enter__(self) -> AnchorAtExit:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.context._ledger is None:
            return
        from govflow.flows.anchoring import AnchorOnExit

        AnchorOnExit(self.context).__exit__(exc_type, exc, tb)
