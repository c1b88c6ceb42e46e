"""The public Python API behind ``import govflow`` (re-exported lazily by ``govflow/__init__.py``).

``train``, ``register`` and ``gate`` run govflow's own recorded flows. Called inside a user's Prefect flow they run
as its subflows, and the ledger records them as runs inside the user's flow run; called anywhere else
they run as flows of their own. Both record into the ledger that govflow's recording uses: the one
``GOVFLOW_DB_URL`` / ``GOVFLOW_HOME`` name (default ``./.govflow``), unless a program set another.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import pandas as pd

    from govflow.governance.ledger.engine import Ledger


@dataclass(frozen=True)
class Candidate:
    """A candidate version registered by `govflow.train` or `govflow.register`."""

    system: str
    version: int
    model_version_id: str
    validation_passed: bool
    performance_passed: bool  # held-out performance within the policy (the gate decides; this is a preview)

    @property
    def ref(self) -> str:
        """``NAME:VERSION``, as the CLI takes it (``govflow approve``, ``trace model``, ...)."""
        return f"{self.system}:{self.version}"


@dataclass(frozen=True)
class GateResult:
    """The recorded gate decision for one version (`govflow.gate`)."""

    ref: str  # NAME:VERSION
    outcome: Literal["pass", "block"]
    reasons: tuple[str, ...]
    policy_hash: str
    documents: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return self.outcome == "pass"


def open_ledger(db: str | None = None, home: str | Path | None = None) -> Ledger:
    """Open (and create or migrate, as needed) the ledger, as the ``govflow`` command does.

    ``db`` is a database URL (else ``GOVFLOW_DB_URL``, else the SQLite file in the home); ``home`` the
    govflow home (else ``GOVFLOW_HOME``, else ``./.govflow``). Close it with ``ledger.close()``.

    >>> import govflow
    >>> ledger = govflow.open_ledger(home="/tmp/govflow-home")
    >>> ledger.close()
    """
    from govflow.governance.ledger.engine import Ledger

    return Ledger.open(db, home)


def train(config_path: str | Path, data: pd.DataFrame | None = None) -> Candidate:
    """Run govflow's train flow for the system ``config_path`` (its ``govflow.yaml``) describes.

    It trains on the config's ``data.train`` file, or on ``data``: a frame your own flow built (the
    config's target, positive label and sensitive columns must be in it). The frame's producer, your
    recorded step, then stays upstream of the model in ``govflow trace model``. Data that fails its
    contract raises ``ComplianceBlocked``; a bad config or frame raises an ``InputError``.

    >>> import govflow
    >>> @govflow.flow
    ... def nightly() -> int:
    ...     return govflow.train("govflow.yaml").version
    """
    from govflow.flows.train import train_flow

    outcome = train_flow(_config(config_path), data)
    system, version = outcome.version.rsplit(":", 1)
    return Candidate(system=system, version=int(version), model_version_id=outcome.model_version_id,
                       validation_passed=outcome.validation.passed, performance_passed=outcome.performance.passed)


def register(config_path: str | Path, model: str | Path, train: str | Path, test: str | Path, *,
             registered_by: str | None = None, trained_by: str | None = None, trust: Sequence[str] = (),
             trust_pickle: bool = False) -> Candidate:
    """Register a model fitted elsewhere as a candidate version, as ``govflow register`` does.

    ``model`` is a skops file (or joblib/pickle with ``trust_pickle=True``: loading it runs its code),
    ``train`` and ``test`` the data it was fitted on and held-out data it never saw (csv or parquet).
    ``registered_by`` defaults to the OS user, ``trained_by`` to ``registered_by``. Bad input raises
    an ``InputError`` before anything is recorded; data failing its contract raises ``ComplianceBlocked``.

    >>> import govflow
    >>> @govflow.flow
    ... def adopt() -> bool:
    ...     candidate = govflow.register("govflow.yaml", "model.skops", "train.csv", "test.csv",
    ...                                  trained_by="Risk modelling team")
    ...     return govflow.gate("govflow.yaml", candidate.version).passed
    """
    from govflow.flows.register import check_inputs, register_flow
    from govflow.governance.config import load_config
    from govflow.governance.registry.versions import os_user

    config = _config(config_path)
    model_file, train_file, test_file = (Path(os.fspath(p)).absolute() for p in (model, train, test))
    check_inputs(load_config(Path(config)), model_file, train_file, test_file, list(trust), trust_pickle)
    who = (registered_by or "").strip() or os_user()
    outcome = register_flow(config, str(model_file), str(train_file), str(test_file), who, trained_by,
                            list(trust), trust_pickle)
    system, version = outcome.version.rsplit(":", 1)
    return Candidate(system=system, version=int(version), model_version_id=outcome.model_version_id,
                     validation_passed=True, performance_passed=outcome.performance.passed)


def gate(config_path: str | Path, version: int | str = "latest") -> GateResult:
    """Run govflow's gate on one version: checks, documents and a recorded pass or block.

    ``version`` is a number, ``"latest"`` or ``"NAME:VERSION"``. A block is a result, not an error:
    look at ``result.passed`` and ``result.reasons``. Promotion still needs the approvals the policy
    names (``govflow approve``) and ``govflow promote``.

    >>> import govflow
    >>> @govflow.flow
    ... def release(config: str) -> bool:
    ...     trained = govflow.train(config)
    ...     return govflow.gate(config, trained.version).passed
    """
    from govflow.flows.gate import gate_flow

    outcome = gate_flow(_config(config_path), str(version))
    decided: Literal["pass", "block"] = "pass" if outcome.outcome == "pass" else "block"
    return GateResult(ref=outcome.version, outcome=decided, reasons=outcome.reasons,
                      policy_hash=outcome.policy_hash, documents=outcome.documents)


def _config(config_path: str | Path) -> str:
    """The config's absolute path: a flow may run where the caller's working folder is not."""
    from govflow.errors import ConfigError

    path = Path(os.fspath(config_path)).absolute()
    if not path.is_file():
        raise ConfigError(f"config file {path} not found; pass the path of the system's govflow.yaml")
    return str(path)
