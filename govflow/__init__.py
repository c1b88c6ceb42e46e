"""govflow: compliance and traceability for machine-learning models.

One import root. The repository keeps the folders its users asked for at its top level, and each is
a subpackage here (the entries in this folder link to them):

``govflow.checks``      pure checks: frames and a policy in, typed results out (validation, fairness,
                        drift, performance); no database, file or network.
``govflow.governance``  the ledger (one writer, hash chain, verify) and everything read from it: the
                        registry, access, the prediction trail, monitoring and incidents, lineage, reports.
``govflow.flows``       Prefect flows (train, gate, register, score, monitor, incident, fleet) and the
                        recording that writes each of their steps to the ledger; ``models/`` holds estimator code.

Real folders of this one: ``web/`` (``govflow serve``: predictions, the auditor API, the dashboard, and
`instrument` for a team's own app), ``cli/`` (the ``govflow`` command, one module per noun), ``demo/``
(the stories of ``govflow demo``); ``errors`` (the one exception tree) and ``canonical`` (the one
encoding every hash is computed over), which every layer may import; ``api`` and ``settings``.

Imports point down only: checks < governance < flows < web < demo < cli (tests/packaging/test_layers.py).

The public API (``__all__``) is what a team needs to govern its own system without rewriting it:
``task`` and ``flow`` (Prefect's decorators, recorded in the ledger, typed by the function they wrap),
``open_ledger``, ``train``, ``register`` (a model fitted elsewhere) and ``gate`` (govflow's flows, as
subflows of the caller's own flow), their results ``Candidate`` and ``GateResult``, and the errors
``GovflowError`` (any refusal; its ``exit_code`` is the CLI's) and ``ComplianceBlocked`` (a compliance
check stopped the step). Names load on first use, so ``import govflow`` neither imports Prefect nor pandas.

>>> import govflow
>>> @govflow.task
... def add(a: int, b: int) -> int:
...     return a + b
>>> add.fn(2, 3)  # the plain function, unrecorded (as tests call it)
5
>>> issubclass(govflow.ComplianceBlocked, govflow.GovflowError)
True
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("govflow")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

if TYPE_CHECKING:
    from govflow.api import Candidate, GateResult, gate, open_ledger, register, train
    from govflow.errors import ComplianceBlocked, GovflowError
    from govflow.flows.recording import flow, task

_PUBLIC = {
    "task": "govflow.flows.recording",
    "flow": "govflow.flows.recording",
    "open_ledger": "govflow.api",
    "train": "govflow.api",
    "register": "govflow.api",
    "gate": "govflow.api",
    "Candidate": "govflow.api",
    "GateResult": "govflow.api",
    "GovflowError": "govflow.errors",
    "ComplianceBlocked": "govflow.errors",
}

__all__ = ["task", "flow", "open_ledger", "train", "register", "gate", "Candidate", "GateResult", "GovflowError",
           "ComplianceBlocked", "__version__"]


def __getattr__(name: str) -> Any:
    """Load a public name on first use (PEP 562): ``import govflow`` stays fast."""
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'govflow' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
