"""What goes wrong when a ledger is opened or read, said so the user can fix it (exit 2)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from govflow.errors import LedgerError

NOT_A_LEDGER = (
    "{where} is not a govflow ledger: it holds tables ({tables}) but no govflow schema version. "
    "Point --db (or GOVFLOW_DB_URL) at a govflow ledger or at an empty database."
)
NEWER_SCHEMA = (
    "the ledger at {where} has schema version {found}, newer than this govflow knows (up to {known}). "
    "Upgrade govflow to open it; this version will not touch it."
)
UNREACHABLE = (
    "cannot reach the ledger database at {where} ({reason}). "
    "Start the database server, or point --db (or GOVFLOW_DB_URL) at a reachable one."
)
CORRUPT = (
    "the ledger file {where} is not a SQLite database or is corrupted ({reason}). "
    "Restore it from a backup, or point --db at another file."
)
BAD_SCHEME = (
    "unsupported ledger URL scheme '{scheme}' in {where}: use sqlite:///PATH (the default) "
    "or postgresql://USER@HOST:PORT/DBNAME."
)
REPLACED = (
    "the ledger file {where} was removed or replaced while govflow had it open; nothing more can be "
    "recorded in it. Restore it (or point --db at the right file) and run again."
)
HOME_NOT_A_FOLDER = "the govflow home {home} is a file, not a folder: point --home (or GOVFLOW_HOME) at a folder."
NO_FOLDER = (
    "cannot create the folder {folder} for the ledger file ({reason}): a file is in the way, or it is not writable. "
    "Point --db (or GOVFLOW_DB_URL) at a path inside a writable folder."
)
EMPTY_CHAIN = "the ledger at {where} has no audit entries at all: its chain was deleted. Run `govflow verify` for the details."
NO_GENESIS = (
    "the ledger at {where} has lost its genesis entry (seq 1), which carries its id: its chain was cut. "
    "Run `govflow verify` for the details."
)
# SQLite reports a full disk on open as an I/O error (its WAL index cannot grow): not a server to start.
SQLITE_DISK = (
    "the ledger file {where} could not be written or read ({reason}): the disk holding it is full or failing. "
    "Free some space (or check the disk) and run again."
)
BAD_URL = "cannot parse the ledger URL '{url}': use sqlite:///PATH or postgresql://USER@HOST:PORT/DBNAME."


def explain(where: str, error: Exception) -> LedgerError:
    """A database error met while opening or reading, as the user's problem to fix."""
    reason = str(getattr(error, "orig", error)).strip().splitlines()[0]
    if corrupt(error):
        return LedgerError(CORRUPT.format(where=where.removeprefix("sqlite:///"), reason=reason))
    if where.startswith("sqlite") and any(s in reason for s in ("readonly", "read-only", "unable to open")):
        return LedgerError(FILE_MAY_NOT_BE_WRITTEN.format(where=where.removeprefix("sqlite:///"), reason=reason))
    if where.startswith("sqlite") and any(s in reason for s in ("disk I/O error", "disk is full")):
        return LedgerError(SQLITE_DISK.format(where=where.removeprefix("sqlite:///"), reason=reason))
    return LedgerError(UNREACHABLE.format(where=where, reason=reason))


def make_folder(folder: Path) -> None:
    """The ledger file's folder, created as needed; a file in the way or no permission is the user's to fix."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LedgerError(NO_FOLDER.format(folder=folder, reason=e.strerror or e)) from e


def corrupt(error: Exception) -> bool:
    """A SQLite file that is not a database, or a damaged one."""
    orig = getattr(error, "orig", None)
    reason = str(orig)
    return isinstance(orig, sqlite3.DatabaseError) and (
        "not a database" in reason or "malformed" in reason or "corrupt" in reason
    )


ROLE_MAY_NOT_WRITE = (
    "the database role {role} may not write to this ledger ({reason}): it is a read-only role (such as the one "
    "`govflow access create-auditor-role` makes). Record with the role that owns the ledger; this one can verify."
)
FILE_MAY_NOT_BE_WRITTEN = (
    "the ledger file {where} cannot be written ({reason}): it or its folder is read-only (an immutable file, a "
    "read-only mount, or no permission). Recording needs a writable ledger; `govflow verify` reads it as it is."
)
DISK_FULL = "the disk holding the ledger {where} is full ({reason}); nothing was recorded. Free some space and run again."
# PostgreSQL: insufficient privilege; a read-only transaction (the auditor role's sessions are read-only).
_REFUSED_STATES = {"42501", "25006"}


def write_refused(where: str, role: str | None, error: Exception) -> LedgerError | None:
    """A write the database refused because this ledger may not be written here, as the user's to fix; else None."""
    orig = getattr(error, "orig", error)  # SQLAlchemy's wrapper, or the driver's error itself (raw cursor)
    if not (isinstance(orig, sqlite3.Error) or type(orig).__module__.startswith("psycopg")):
        return None
    reason = (str(orig).strip().splitlines() or [""])[0]
    if getattr(orig, "sqlstate", None) in _REFUSED_STATES:
        return LedgerError(ROLE_MAY_NOT_WRITE.format(role=role or "(default)", reason=reason))
    if where.startswith("sqlite") and ("readonly" in reason or "read-only" in reason):
        return LedgerError(FILE_MAY_NOT_BE_WRITTEN.format(where=where.removeprefix("sqlite:///"), reason=reason))
    if "disk is full" in reason or "No space left" in reason:
        return LedgerError(DISK_FULL.format(where=where, reason=reason))
    return None
