"""Where the ledger keeps stored files: the `ArtifactStore` interface, and its default, a
content-addressed folder ``<home>/artifacts/<sha256>`` (`FileArtifactStore`).

The ledger records each file by the sha256 of its bytes; the store holds the bytes. A store is
handed to `govflow.governance.ledger.engine.Ledger` (the default is the folder in the govflow home).

In the folder, a file's name is the sha256 of its bytes, so a stored file cannot be altered without the change
being visible, and storing the same content twice stores it once. Writes are atomic (temporary file,
fsync, rename): a crash leaves either the whole file or none.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Protocol, runtime_checkable


@runtime_checkable
class ArtifactStore(Protocol):
    """Stored files by content hash: what the ledger, verify and the exports need of a store."""

    def put(self, data: bytes) -> str:
        """Store bytes; return their sha256 (hex). Storing the same bytes again is harmless."""
        ...

    def read(self, content_hash: str) -> bytes:
        """The stored bytes (raise `OSError` when they are missing)."""
        ...

    def uri(self, content_hash: str) -> str:
        """Where the file is, as recorded in the ledger's ``uri`` columns."""
        ...

    def path(self, content_hash: str) -> Path:
        """The local file holding the bytes (exports copy it)."""
        ...

    def problem(self, content_hash: str) -> str | None:
        """None when the stored file is present and intact, else what is wrong with it."""
        ...


class FileArtifactStore:
    """The default store: one file per content hash in a folder, written atomically."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, content_hash: str) -> Path:
        return self.root / content_hash

    def uri(self, content_hash: str) -> str:
        return f"artifacts/{content_hash}"

    def put(self, data: bytes) -> str:
        """Store bytes; return their sha256 (hex)."""
        content_hash = hashlib.sha256(data).hexdigest()
        target = self.path(content_hash)
        if target.exists():
            return content_hash
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return content_hash

    def read(self, content_hash: str) -> bytes:
        return self.path(content_hash).read_bytes()

    def problem(self, content_hash: str) -> str | None:
        """None when the stored file is present and intact, else what is wrong with it."""
        target = self.path(content_hash)
        if not target.exists():
            return f"artifact file {self.uri(content_hash)} is missing"
        digest = hashlib.sha256()
        with open(target, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != content_hash:
            return f"artifact file {self.uri(content_hash)} was altered (its bytes hash to {digest.hexdigest()[:16]}...)"
        return None
