"""Redaction of logged fields: ``logging.redact`` fields stored only as keyed hashes.

Fields listed in the system's ``logging.redact`` are never stored: in their place goes
``"hmac-sha256:<hex>"``, an HMAC-SHA256 of the value's canonical JSON under the system's secret
redaction key, kept in the govflow home at ``secrets/redaction-<system>.key`` (created on first use,
mode 0600). Equal values give equal hashes under one key, so monitoring can still count and group
them; without the key they cannot be linked back to a value. Keep that file with the home's backups;
with several servers, share it (the home).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from govflow import canonical as canon

KEY_FILE = "secrets/redaction-{system}.key"


def redaction_key(home: Path, system: str) -> bytes:
    """The system's secret redaction key, created on first use (32 random bytes, file mode 0600)."""
    path = home / KEY_FILE.format(system=system)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32) + "\n")
    return bytes.fromhex(path.read_text().strip())


@dataclass(frozen=True)
class Redaction:
    """The fields of a system stored only as keyed hashes (``logging.redact``)."""

    fields: frozenset[str] = frozenset()
    key: bytes = b""

    def digest(self, value: Any) -> str:
        return "hmac-sha256:" + hmac.new(self.key, canon.canonical(value), hashlib.sha256).hexdigest()

    def apply(self, values: Mapping[str, Any]) -> dict[str, Any]:
        if not self.fields:
            return dict(values)
        return {k: self.digest(v) if k in self.fields else v for k, v in values.items()}


NO_REDACTION = Redaction()


def redaction_for(home: Path, system: str, fields: Iterable[str]) -> Redaction:
    chosen = frozenset(fields)
    return Redaction(chosen, redaction_key(home, system)) if chosen else NO_REDACTION
