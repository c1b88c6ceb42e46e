"""Ed25519 keys that sign chain heads, so an anchor copy cannot be forged by whoever can write the ledger.

The private key signs (the writers: CLI commands, `serve`); only its public half is needed to check
(`verify --anchors`). Both stay outside the govflow home: someone who can rewrite the ledger and the
files beside it must not also hold the key, or they could sign a forged head.

A key file is a PKCS#8 PEM, mode 0600. A public key is written as the base64 of its 32 raw bytes;
its key id is the first 16 hex digits of their sha256.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from govflow.errors import InputError

DEFAULT_KEY = Path("~/.config/govflow/anchor.key")


class AnchorKeyError(InputError):
    """A signing or public key that cannot be used (exit 2)."""


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_text(public: Ed25519PublicKey) -> str:
    return base64.b64encode(_raw(public)).decode("ascii")


def key_id(public: Ed25519PublicKey) -> str:
    return hashlib.sha256(_raw(public)).hexdigest()[:16]


def create_key(path: Path, home: Path | None = None) -> Ed25519PublicKey:
    """Write a new private key to ``path`` (never over an existing file), mode 0600; its public half."""
    path = path.expanduser().absolute()
    if home is not None and path.is_relative_to(home.absolute()):
        raise AnchorKeyError(f"{path} is inside the govflow home {home}: keep the key where whoever can write "
                        "the ledger cannot read it (another user, machine or secret store); choose --out elsewhere")
    if path.exists() or path.is_symlink():
        raise AnchorKeyError(f"{path} already exists; govflow never overwrites a key (heads signed with it could "
                        "no longer be checked). Choose another --out, or remove the file yourself")
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.fchmod(fd, 0o600)
            if os.write(fd, pem) != len(pem):
                raise OSError(f"short write to {path}")
        finally:
            os.close(fd)
    except OSError as e:
        raise AnchorKeyError(f"cannot write the key to {path}: {e.strerror or e}; choose another --out") from None
    return private.public_key()


class Signer:
    """Signs heads with a private key read from a file."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.key_id = key_id(private.public_key())

    @classmethod
    def load(cls, path: Path) -> Signer:
        path = path.expanduser()
        try:
            mode = path.stat().st_mode
            data = path.read_bytes()
        except OSError as e:
            raise AnchorKeyError(f"cannot read the anchor signing key {path}: {e.strerror or e}; create one with "
                            "`govflow keys create --out PATH` or fix GOVFLOW_ANCHOR_KEY / anchors.key") from None
        if stat.S_IMODE(mode) & 0o077:
            raise AnchorKeyError(f"the anchor signing key {path} can be read by other users (mode "
                            f"{stat.S_IMODE(mode):o}); run `chmod 600 {path}`")
        try:
            private = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as e:
            raise AnchorKeyError(f"{path} is not an unencrypted PEM private key ({e}); create one with `govflow keys create`") from None
        if not isinstance(private, Ed25519PrivateKey):
            raise AnchorKeyError(f"{path} is not an Ed25519 key; create one with `govflow keys create`")
        return cls(private)

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self._private.sign(message)).decode("ascii")


class Verifier:
    """Checks head signatures against one public key."""

    def __init__(self, public: Ed25519PublicKey) -> None:
        self._public = public
        self.key_id = key_id(public)

    @classmethod
    def parse(cls, text: str) -> Verifier:
        """A public key as `govflow keys create` prints it (base64 of 32 bytes), or a file holding it."""
        value = text.strip()
        candidate = Path(value).expanduser()
        if "/" in value and candidate.is_file():
            value = candidate.read_text(encoding="utf-8", errors="replace").strip()
        try:
            raw = base64.b64decode(value, validate=True)
            return cls(Ed25519PublicKey.from_public_bytes(raw))
        except (binascii.Error, ValueError):
            raise AnchorKeyError(f"anchors public_key '{text[:60]}' is not an Ed25519 public key (the base64 text "
                            "`govflow keys create` prints, or a file holding it)") from None

    def problem(self, head_key_id: str, message: bytes, signature: str) -> str | None:
        """Why a signature does not hold, or None when it does."""
        if not signature:
            return "it is not signed, but a public key is configured: a forged anchor (or one written without the key)"
        if head_key_id != self.key_id:
            return (f"it is signed by key {head_key_id}, not by the configured key {self.key_id}: a forged anchor")
        try:
            self._public.verify(base64.b64decode(signature, validate=True), message)
        except (InvalidSignature, binascii.Error, ValueError):
            return "its signature does not verify against the configured public key: a forged anchor"
        return None
