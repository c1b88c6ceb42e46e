"""Which ledger a govflow home belongs with: its identity, remembered in the home.

A ledger's identity is its id (the subject of its genesis entry) and its genesis entry's hash. The
first time a home opens a ledger for writing (creating it, or opening an existing one) it records
that identity in ``<home>/ledgers.json``, keyed by the ledger's URL (password hidden); it never
overwrites it. `govflow verify` then refuses, as tampering, a ledger that is gone (``rm ledger.db*``)
or is another one (another home's file copied in, a database re-created): a fresh chain verifies
perfectly, so only something outside the ledger can tell it is not the one that was there.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, text

from govflow.errors import LedgerError, TamperingError

IDENTITY_FILE = "ledgers.json"

GONE = (
    "the ledger this home recorded is gone: expected ledger {id} (genesis {genesis}...) at {where}, found no ledger "
    "there. Restore it from a backup; if it was retired on purpose, remove its entry from {file}."
)
SWAPPED = (
    "the ledger at {where} is not the one this home recorded: expected ledger {id} (genesis {genesis}...), found "
    "ledger {found_id} (genesis {found_genesis}...). Restore the right ledger; if the change was deliberate, remove "
    "its entry from {file}."
)
UNREADABLE = "cannot read {file} ({reason}): it records which ledger this home belongs with. Restore it or remove it."
HOME_NOT_WRITABLE = (
    "cannot write in the govflow home {home} ({reason}). Commands that record need a writable home "
    "(--home or GOVFLOW_HOME); `govflow verify` works on a read-only one."
)


@dataclass(frozen=True)
class Identity:
    ledger_id: str
    genesis: str  # the genesis entry's hash


def of_ledger(conn: Connection) -> Identity | None:
    """The identity the ledger shows, None when its genesis entry is gone (tampering verify reports)."""
    row = conn.execute(text("SELECT subject, entry_hash FROM audit_log WHERE seq = 1")).first()
    return None if row is None else Identity(str(row[0]).removeprefix("ledger "), str(row[1]))


def recall(home: Path, where: str) -> Identity | None:
    """The identity this home recorded for the ledger at ``where``, if any."""
    known = _read(home)
    entry = known.get(where)
    if not isinstance(entry, dict) or not {"ledger_id", "genesis"} <= set(entry):
        return None
    return Identity(str(entry["ledger_id"]), str(entry["genesis"]))


def remember(home: Path, where: str, identity: Identity) -> None:
    """Record the identity of the ledger at ``where`` unless one is recorded already (it is never replaced)."""
    known = _read(home)
    if where in known:
        return
    known[where] = {"ledger_id": identity.ledger_id, "genesis": identity.genesis}
    try:
        home.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".ledgers-", dir=home)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(known, out, indent=1, sort_keys=True)
            out.write("\n")
        os.replace(temporary, home / IDENTITY_FILE)  # whole or not at all
    except OSError as e:
        raise LedgerError(HOME_NOT_WRITABLE.format(home=home, reason=e.strerror or e)) from e


def check(home: Path, where: str, found: Identity | None, *, present: bool = True) -> None:
    """`TamperingError` when the home recorded a ledger at ``where`` and finds none, or another one."""
    expected = recall(home, where)
    if expected is None:
        return
    file = home / IDENTITY_FILE
    if not present:
        raise TamperingError(GONE.format(id=expected.ledger_id, genesis=expected.genesis[:16], where=where, file=file))
    if found is not None and found != expected:
        raise TamperingError(SWAPPED.format(where=where, id=expected.ledger_id, genesis=expected.genesis[:16],
                                            found_id=found.ledger_id, found_genesis=found.genesis[:16], file=file))


def _read(home: Path) -> dict[str, object]:
    path = home / IDENTITY_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except NotADirectoryError as e:
        raise LedgerError(HOME_NOT_WRITABLE.format(home=home, reason=e.strerror)) from e
    except (OSError, ValueError) as e:
        raise LedgerError(UNREADABLE.format(file=path, reason=getattr(e, "strerror", None) or e)) from e
    if not isinstance(data, dict):
        raise LedgerError(UNREADABLE.format(file=path, reason="not a JSON object"))
    return data
