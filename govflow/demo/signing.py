"""The credit demo's signed approval: an SSH key for its risk officer, generated into the demo's home,
and the configs that name the demo's allowed-signers file.

The bundled configs (data/credit-scoring*.govflow.yaml) stay as shipped: the demo writes copies into
``<home>/demo/`` whose policy adds ``allowed_signers: allowed_signers`` (a path relative to the copy),
and an allowed-signers file there allowing the generated key to sign for ``Ravi Patel@risk_officer``
(`govflow.governance.access.signatures`). Without ``ssh-keygen`` the file allows nobody and the
demo records the approval unsigned, saying why.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SIGNER = ("Ravi Patel", "risk_officer")
ALLOWED_SIGNERS = "allowed_signers"
KEY_NAME = "ravi_patel_ed25519"
POLICY_LINE = "  approvals: [model_owner, risk_officer]\n"
NO_SSH_KEYGEN = ("ssh-keygen not found on PATH: the risk officer's decision is recorded unsigned "
                 "(install openssh-client to see a signed approval)")


@dataclass(frozen=True)
class DemoSigning:
    """Where the demo's configs, allowed-signers file and key are; ``key`` None: signing is skipped (``why``)."""

    folder: Path
    configs: tuple[Path, ...]
    allowed_signers: Path
    key: Path | None
    why: str | None = None


def demo_config(source: Path, folder: Path) -> Path:
    """A copy of a bundled config whose data path is absolute and whose policy names the allowed signers."""
    text = source.read_text(encoding="utf-8")
    text = text.replace("train: german_credit.csv", f"train: {source.parent / 'german_credit.csv'}", 1)
    if POLICY_LINE not in text:
        raise ValueError(f"{source}: expected the line {POLICY_LINE.strip()!r} in its policy")
    text = text.replace(POLICY_LINE, POLICY_LINE + f"  allowed_signers: {ALLOWED_SIGNERS}   # who may sign for which role\n", 1)
    target = folder / source.name
    target.write_text(text, encoding="utf-8")
    return target


def _generate_key(ssh_keygen: str, key: Path) -> str | None:
    """The public key line of ``key`` (generated when absent), or None with ssh-keygen's complaint printed."""
    if not key.exists():
        made = subprocess.run([ssh_keygen, "-q", "-t", "ed25519", "-N", "", "-C", "Ravi Patel (govflow demo)", "-f", str(key)],
                              capture_output=True, text=True, timeout=60, check=False)
        if made.returncode != 0:
            return None
    public = key.with_name(key.name + ".pub")
    return " ".join(public.read_text(encoding="utf-8").split()[:2]) if public.exists() else None


def prepare_signing(home: Path, sources: tuple[Path, ...]) -> DemoSigning:
    """The demo's configs and allowed-signers file in ``<home>/demo``, and the risk officer's key."""
    folder = home / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    configs = tuple(demo_config(source, folder) for source in sources)
    allowed = folder / ALLOWED_SIGNERS
    header = "# who may sign govflow approvals for the demo: principal NAME@ROLE, then the key\n"
    found = shutil.which("ssh-keygen")
    public = None if found is None else _generate_key(found, folder / KEY_NAME)
    if public is None:
        allowed.write_text(header, encoding="utf-8")
        why = NO_SSH_KEYGEN if found is None else "ssh-keygen could not generate a key: the decision is recorded unsigned"
        return DemoSigning(folder, configs, allowed, None, why)
    allowed.write_text(header + f'"{SIGNER[0]}@{SIGNER[1]}" namespaces="govflow" {public}\n', encoding="utf-8")
    return DemoSigning(folder, configs, allowed, folder / KEY_NAME)
