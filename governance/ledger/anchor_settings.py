"""Which anchors are in force: ``GOVFLOW_ANCHORS``, else the ``anchors:`` section of the config.

``GOVFLOW_ANCHORS`` is a comma-separated list; each item is one of

    file:PATH           append heads to this file (on another disk, mount or machine)
    folder:PATH         one head file per ledger in this folder
    http://... https:// POST each head there as JSON; GET on the same URL reads them back
    prefect             a Prefect artifact per head, in Prefect's own database (the API in force)
    key:PATH            sign heads with this Ed25519 private key (`govflow keys create`)
    public-key:BASE64   check signatures with this public key (or public-key:PATH of a file holding it)

for example ``GOVFLOW_ANCHORS="file:/mnt/audit/govflow-heads.log,https://anchor.example/heads,prefect,
key:/etc/govflow/anchor.key,public-key:Qm9vaw...="``. Empty or unset (and no ``anchors:``
section): ``heads.log`` in the govflow home only, unsigned.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from govflow.errors import ConfigError

if TYPE_CHECKING:
    from govflow.governance.ledger.anchor_keys import Signer, Verifier

ENV = "GOVFLOW_ANCHORS"
SINK_KINDS = ("file", "folder", "http", "prefect")


@dataclass(frozen=True)
class AnchorSettings:
    sinks: tuple[tuple[str, str], ...] = ()  # (kind, target): kind one of SINK_KINDS
    key: Path | None = None
    public_key: str | None = None
    source: str = "the default"

    def signer(self) -> Signer | None:
        from govflow.governance.ledger.anchor_keys import Signer  # cryptography only where a key is used

        return Signer.load(self.key) if self.key else None

    def verifier(self) -> Verifier | None:
        from govflow.governance.ledger.anchor_keys import Verifier

        return Verifier.parse(self.public_key) if self.public_key else None


def parse_env(value: str) -> AnchorSettings:
    sinks: list[tuple[str, str]] = []
    key: Path | None = None
    public_key: str | None = None
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        kind, _, target = item.partition(":")
        if item.startswith(("http://", "https://")):
            sinks.append(("http", item))
        elif item == "prefect":
            sinks.append(("prefect", ""))
        elif kind in ("file", "folder") and target:
            sinks.append((kind, str(Path(target).expanduser().absolute())))
        elif kind == "key" and target:
            key = Path(target).expanduser()
        elif kind == "public-key" and target:
            public_key = target
        else:
            raise ConfigError(f"{ENV}: '{item}' is not an anchor; use file:PATH, folder:PATH, http(s)://URL, "
                              "prefect, key:PATH or public-key:BASE64, separated by commas")
    return AnchorSettings(tuple(sinks), key, public_key, source=ENV)


def from_section(section: Any, base_dir: Path, source: str) -> AnchorSettings:
    """The ``anchors:`` section (`govflow.governance.config.AnchorsSection`); paths relative to the config's folder."""
    sinks: list[tuple[str, str]] = []
    for sink in section.sinks:
        kind, target = sink.kind()
        if kind in ("file", "folder"):
            target = str((base_dir / Path(target).expanduser()).absolute())
        sinks.append((kind, target))
    key = (base_dir / Path(section.key).expanduser()) if section.key else None
    return AnchorSettings(tuple(sinks), key, section.public_key, source=f"{source} anchors:")


def resolve(section: Any = None, base_dir: Path | None = None, source: str = "govflow.yaml") -> AnchorSettings:
    """``GOVFLOW_ANCHORS`` when set, else the config's section when given, else heads.log only."""
    value = os.environ.get(ENV, "").strip()
    if value:
        return parse_env(value)
    if section is not None:
        return from_section(section, base_dir or Path("."), source)
    return AnchorSettings()
