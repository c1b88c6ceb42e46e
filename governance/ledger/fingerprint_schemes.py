"""The fingerprint schemes, importable without pandas (the CLI parses fingerprints it never computes).

See `govflow.governance.ledger.fingerprint` for what each scheme hashes.
"""

from __future__ import annotations

SCHEME = "fp2"  #: the scheme every new fingerprint gets
SCHEMES = ("fp1", "fp2")  #: every scheme that can still be computed, oldest first
