"""Signed approvals: an SSH signature over what an approver approved, in the format git uses for signed commits.

``govflow approve ... --sign-with ~/.ssh/id_ed25519`` runs ``ssh-keygen -Y sign -n govflow`` over the
approval's *statement*: the canonical JSON (`govflow.canonical`) of

    {"namespace": "govflow", "approval": {"model_version_id", "role", "approver", "decision",
     "rationale", "evidence_hash"}}

so changing any of those fields (or the evidence the approver saw, whose hash names the version's
documents, check results and the chain head then) breaks the signature. The signer must be allowed
by the policy's ``allowed_signers`` file (OpenSSH's allowed-signers format) under the principal
``NAME@ROLE`` (quote it when NAME has spaces; patterns such as ``*@risk_officer`` work), e.g.

    "Ravi Patel@risk_officer" namespaces="govflow" ssh-ed25519 AAAAC3Nz...

The ledger keeps the signature, the public key and the principal, so anyone can check it later with
``ssh-keygen -Y verify`` alone (`govflow verify` does, and so does the auditor's bundle verifier).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from govflow import canonical as canon
from govflow.errors import ComplianceBlocked, InputError

NAMESPACE = "govflow"
STATEMENT_FIELDS = ("model_version_id", "role", "approver", "decision", "rationale", "evidence_hash")
NO_SSH_KEYGEN = ("ssh-keygen was not found on PATH: signed approvals need OpenSSH 8.1 or later "
                 "(Debian/Ubuntu: apt-get install openssh-client)")
NO_KEY = "--sign-with {key}: no such private key file; give the path of your SSH private key, e.g. ~/.ssh/id_ed25519"
NO_ALLOWED_SIGNERS = ("signed approvals need policy.allowed_signers: the path (relative to govflow.yaml) of an "
                      "allowed-signers file with one line per signer, e.g. "
                      '"Ravi Patel@risk_officer" namespaces="govflow" ssh-ed25519 AAAA...')
ALLOWED_SIGNERS_MISSING = "policy.allowed_signers: file {path} not found; create it or fix the path (relative to govflow.yaml)"
NOT_ALLOWED = ("the key {fingerprint} may not sign for '{principal}': {path} has no line allowing it for that "
               "name and role (principal NAME@ROLE, namespaces=\"govflow\"); ask whoever keeps that file to add it")
UNSIGNED_REFUSED = ("the policy requires signed approvals (policy.signed_approvals: required); sign with "
                    "--sign-with ~/.ssh/id_ed25519 (a key allowed for {principal} in the policy's allowed_signers)")
BAD_NAME = "--as '{name}': a signed approval's name may not contain '\"' or a line break"


@dataclass(frozen=True)
class Signed:
    """A signature ready to be recorded with its approval."""

    principal: str
    public_key: str  #: "ssh-ed25519 AAAA..." (type and key, no comment)
    key_fingerprint: str  #: "SHA256:..."
    signature: str  #: the armored SSH signature
    allowed_signers_hash: str  #: sha256 of the allowed-signers file that allowed it


def principal(approver: str, role: str) -> str:
    return f"{approver}@{role}"


def statement(approval: Mapping[str, Any]) -> bytes:
    """The bytes an approval's signature covers (see the module docstring)."""
    return canon.canonical({"namespace": NAMESPACE, "approval": {k: approval[k] for k in STATEMENT_FIELDS}})


def ssh_keygen() -> str:
    found = shutil.which("ssh-keygen")
    if found is None:
        raise InputError(NO_SSH_KEYGEN)
    return found


def _run(args: list[str], data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([ssh_keygen(), *args], input=data, capture_output=True, timeout=120, check=False)


def _first_line(raw: bytes) -> str:
    return (raw.decode("utf-8", "replace").strip().splitlines() or [""])[-1]


def public_key_of(key: Path) -> tuple[str, str]:
    """``(public key "type base64", fingerprint "SHA256:...")`` of a private key file."""
    if not key.is_file():
        raise InputError(NO_KEY.format(key=key))
    derived = _run(["-y", "-f", str(key)])
    if derived.returncode != 0:
        raise InputError(f"--sign-with {key}: ssh-keygen cannot read the key ({_first_line(derived.stderr)})")
    public = " ".join(derived.stdout.decode().split()[:2])
    return public, fingerprint(public)


def fingerprint(public_key: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "key.pub")
        path.write_text(public_key + "\n", encoding="utf-8")
        shown = _run(["-l", "-f", str(path)])
    parts = shown.stdout.decode().split()
    return parts[1] if shown.returncode == 0 and len(parts) > 1 else "unknown key"


def _allowed_line(who: str, public_key: str) -> str:
    return f'"{who}" namespaces="{NAMESPACE}" {public_key}\n'


def _verify_with(allowed_signers: Path, who: str, signature: str, message: bytes) -> str | None:
    """None when ``signature`` is a good govflow signature of ``message`` by a key allowed for ``who``; else why not."""
    with tempfile.TemporaryDirectory() as tmp:
        sig = Path(tmp, "approval.sig")
        sig.write_text(signature, encoding="utf-8")
        checked = _run(["-Y", "verify", "-f", str(allowed_signers), "-I", who, "-n", NAMESPACE, "-s", str(sig)], message)
    return None if checked.returncode == 0 else _first_line(checked.stderr or checked.stdout) or "ssh-keygen refused it"


def sign(key: Path, approver: str, role: str, message: bytes, allowed_signers: Path | None) -> Signed:
    """Sign ``message`` with ``key``, refused unless the allowed-signers file allows it for ``NAME@ROLE``."""
    if '"' in approver or "\n" in approver:
        raise InputError(BAD_NAME.format(name=approver))
    if allowed_signers is None:
        raise InputError(NO_ALLOWED_SIGNERS)
    if not allowed_signers.is_file():
        raise InputError(ALLOWED_SIGNERS_MISSING.format(path=allowed_signers))
    public, print_ = public_key_of(key)
    signed = _run(["-Y", "sign", "-n", NAMESPACE, "-f", str(key)], message)
    if signed.returncode != 0:
        raise InputError(f"--sign-with {key}: ssh-keygen could not sign ({_first_line(signed.stderr)})")
    signature = signed.stdout.decode("ascii")
    who = principal(approver, role)
    if _verify_with(allowed_signers, who, signature, message) is not None:
        raise ComplianceBlocked(NOT_ALLOWED.format(fingerprint=print_, principal=who, path=allowed_signers))
    return Signed(who, public, print_, signature, canon.sha256_hex(allowed_signers.read_bytes()))


def refuse_unsigned(approver: str, role: str) -> None:
    raise ComplianceBlocked(UNSIGNED_REFUSED.format(principal=principal(approver, role)))


def check(approval: Mapping[str, Any], recorded: Mapping[str, Any]) -> str | None:
    """Why a recorded signature does not hold for its approval row (None when it does).

    Checked against the key recorded with it, for the principal the approval names: a changed
    approval, signature, key or principal all fail.
    """
    who = principal(str(approval["approver"]), str(approval["role"]))
    if recorded["principal"] != who:
        return f"the signature was made for '{recorded['principal']}', but the approval is by '{who}'"
    with tempfile.TemporaryDirectory() as tmp:
        allowed = Path(tmp, "allowed_signers")
        allowed.write_text(_allowed_line(who, str(recorded["public_key"])), encoding="utf-8")
        problem = _verify_with(allowed, who, str(recorded["signature"]), statement(approval))
    return None if problem is None else f"the signature does not verify ({problem}): the approval or its signature was changed"


def ledger_findings(conn: Any) -> list[tuple[int, str, str]]:
    """``(audit_seq, record, problem)`` for every recorded approval signature that does not hold."""
    from sqlalchemy import select

    from govflow.governance.ledger.schema import Approval, ApprovalSignature

    found = []
    for recorded in conn.execute(select(ApprovalSignature).order_by(ApprovalSignature.audit_seq)).mappings():
        approval = conn.execute(select(Approval).where(Approval.id == recorded["approval_id"])).mappings().first()
        where = f"approval_signatures/{recorded['id']}"
        if approval is None:
            found.append((recorded["audit_seq"], where, f"signs approval {recorded['approval_id']}, which the ledger does not hold"))
        elif (problem := check(approval, recorded)) is not None:
            found.append((recorded["audit_seq"], f"approvals/{approval['id']} ({recorded['principal']})", problem))
    return found
