"""The one exception root of govflow.

Every error govflow raises on purpose derives from `GovflowError` and from the built-in that fits,
so callers may catch either. A message says what is wrong and how to fix it; the CLI prints it as
one line and exits with the class's `exit_code` (DESIGN.md: 1 check failed, 2 bad input, 3 internal).
It lives in `checks/` because that is the bottom layer: `governance/` and `flows/` import it from here.
"""

from __future__ import annotations


class GovflowError(Exception):
    """Base of every error govflow raises on purpose."""

    exit_code: int = 3


class InputError(GovflowError, ValueError):
    """Bad input: a usage, config or data problem the user can fix (exit 2)."""

    exit_code = 2


class ConfigError(InputError):
    """`govflow.yaml` (or a policy) is invalid."""


class DataError(InputError):
    """A data frame or file does not fit what a check or step needs."""


class LedgerError(GovflowError, RuntimeError):
    """The ledger cannot be opened or written (exit 2: the fix is on the user's side)."""

    exit_code = 2


class TamperingError(GovflowError, RuntimeError):
    """The ledger or an artifact no longer matches its hash chain (exit 1)."""

    exit_code = 1


class ComplianceBlocked(GovflowError, RuntimeError):
    """A gate, a promotion or a check refused on compliance grounds (exit 1)."""

    exit_code = 1
