"""govflow: compliance and traceability for machine-learning models.

One import root. The repository keeps the folders its users asked for at its top level, and each is
a subpackage here (the entries in this folder link to them):

``govflow.checks``      pure checks: frames and a policy in, typed results out (validation, fairness,
                        drift, performance); no database, file or network.
``govflow.governance``  the lineage ledger (one writer, hash chain, verify), the model registry, the
                        prediction trail, lineage and exports, documents and gap analysis.
``govflow.flows``       Prefect flows (train, gate, score, monitor, incident, fleet), their recording,
                        the ``govflow`` CLI and the HTTP service.

Imports point down only: ``flows`` uses ``governance`` and ``checks``; ``governance`` uses ``checks``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("govflow")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
