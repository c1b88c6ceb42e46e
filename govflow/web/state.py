"""What the routes of `govflow serve` share: the production versions being served (`Models`) and `ServeState`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from govflow import canonical as canon
from govflow.flows.serving import NotInProduction, UnknownSystem, load_production
from govflow.governance.ledger.engine import Ledger
from govflow.governance.registry import versions as registry
from govflow.web.auth import Auth
from govflow.web.workers import BatchScorer, GroupCommitter

REFRESH_S = 1.0  # how often the production version of a served system is re-checked

log = structlog.get_logger("govflow.serve")


class Models:
    """The `ServedModel` of each system, re-checked against the ledger every `REFRESH_S` seconds.

    ``loader`` builds what is cached from the production version (`load_production`; the
    instrumentation of a user's own app, `govflow.web`, loads the schema without the model)."""

    def __init__(self, ledger: Ledger, loader: Callable[[Ledger, str], Any] = load_production) -> None:
        self.ledger = ledger
        self.loader = loader
        self._cache: dict[str, tuple[Any, float]] = {}
        self._lock = threading.Lock()

    def get(self, system: str) -> Any:  # a ServedModel with the default loader
        now = time.monotonic()
        cached = self._cache.get(system)
        if cached is not None and now - cached[1] < REFRESH_S:
            return cached[0]
        with self._lock:
            if cached is not None:
                with self.ledger.read() as conn:
                    current = registry.production_version(conn, system)
                if current is not None and current.id == cached[0].version.id:
                    self._cache[system] = (cached[0], now)
                    return cached[0]
            try:
                served = self.loader(self.ledger, system)
            except (UnknownSystem, NotInProduction):
                self._cache.pop(system, None)
                raise
            self._cache[system] = (served, now)
            log.info("model.loaded", system=system, model_version=str(served.version))
            return served

    def forget(self, system: str) -> None:
        self._cache.pop(system, None)



@dataclass
class ServeState:
    """What the routes share; extensions (e.g. the dashboard) reach it as ``app.state.govflow``."""

    ledger: Ledger
    auth: Auth
    models: Models
    committer: GroupCommitter
    scorer: BatchScorer
    record: bool
    started_at: str = field(default_factory=lambda: canon.format_ts(canon.utc_now()))

