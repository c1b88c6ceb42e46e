#!/usr/bin/env python3
"""verify_bundle.py: check a govflow auditor's bundle with nothing but Python's standard library.

Usage: ``python3 verify_bundle.py [BUNDLE_DIR_OR_ZIP]`` (default: the folder this file is in).
Exit 0 when every hash holds, 1 when anything does not (each problem named with its file), 2 when
the bundle cannot be read.

What it checks, re-implementing govflow's canonical hashing (govflow's DESIGN.md and
``govflow/canonical.py``) rather than trusting any govflow code:

* canonical form: JSON with sorted keys, separators ``(",", ":")``, no ASCII escaping, UTF-8;
* ``manifest.json``: itself canonical, and the sha256 of every file of the bundle as listed, no file
  missing and none unlisted (this file included);
* ``chain/entries.jsonl``: a contiguous segment of the audit chain. Each entry's ``payload_hash`` is the
  sha256 of its payload text, its ``entry_hash = sha256(canonical({seq, recorded_at, event_type,
  subject, payload_hash, prev_hash}))``, each ``prev_hash`` is the previous ``entry_hash`` (64 zeros
  before entry 1), and the last entry is the head named in ``chain/head.json`` and in the manifest;
* ``chain/row_hashes.json``: for each entry and table it covers, the hashes of every row that entry
  wrote there, which must give the entry's payload (``sha256`` of the sorted hex hashes joined, and
  the row count);
* ``chain/rows.jsonl``: each included ledger row re-hashed, ``sha256(canonical({"table", "row"}))``,
  and found among the hashes its entry (``audit_seq``) covers;
* ``documents/``: each document's sha256 is the ``content_hash`` of a chained ``artifacts`` row;
* ``checks/check_results.json``: each result is a chained ``check_results`` row, re-hashed;
* each signed approval (an ``approval_signatures`` row): its SSH signature over the approval's
  statement, ``canonical({"namespace": "govflow", "approval": {model_version_id, role, approver,
  decision, rationale, evidence_hash}})``, checked with ``ssh-keygen -Y verify -n govflow`` (OpenSSH
  8.1+) against the public key recorded with it, for the principal ``APPROVER@ROLE``. Without
  ssh-keygen on PATH the signatures are not checked, and the verifier says so.

A bundle that passes is exactly what the ledger held up to the head it names; to know the ledger
still holds it, run ``govflow verify --head HEAD`` against the ledger with the head printed here.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path

GENESIS = "0" * 64
FORMAT = "govflow-bundle/1"
SIGNED_FIELDS = ("model_version_id", "role", "approver", "decision", "rationale", "evidence_hash")


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def entry_hash(e):
    keys = ("seq", "recorded_at", "event_type", "subject", "payload_hash", "prev_hash")
    return sha256(canonical({k: e[k] for k in keys}))


def row_hash(table, row):
    return sha256(canonical({"table": table, "row": row}))


class Bundle:
    """The files of a bundle, from a folder or a zip archive."""

    def __init__(self, where):
        self.where = Path(where)
        self.files = {}
        self.problems = []
        self.signatures = (0, False)  # (checked, skipped because ssh-keygen is missing)
        if self.where.is_dir():
            for path in sorted(self.where.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    self.files[path.relative_to(self.where).as_posix()] = path.read_bytes()
        else:
            with zipfile.ZipFile(self.where) as archive:
                for name in archive.namelist():
                    if name.endswith("/"):
                        continue
                    try:
                        self.files[name] = archive.read(name)
                    except (zipfile.BadZipFile, zlib.error, OSError) as e:  # a corrupted member fails its CRC check
                        self.problems.append(f"{name}: cannot be read from the archive ({e})")
                        self.files[name] = b""

    def fail(self, file, problem):
        self.problems.append(f"{file}: {problem}")

    def json(self, name):
        try:
            return json.loads(self.files[name].decode("utf-8"))
        except KeyError:
            self.fail(name, "missing from the bundle")
        except (UnicodeDecodeError, ValueError) as e:
            self.fail(name, f"not valid JSON ({e})")
        return None

    def lines(self, name):
        out = []
        data = self.files.get(name)
        if data is None:
            self.fail(name, "missing from the bundle")
            return out
        for number, line in enumerate(io.StringIO(data.decode("utf-8", errors="replace")), 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except ValueError as e:
                self.fail(name, f"line {number} is not valid JSON ({e})")
        return out


def check_manifest(b):
    manifest = b.json("manifest.json")
    if not isinstance(manifest, dict):
        return None
    if canonical(manifest) != b.files["manifest.json"]:
        b.fail("manifest.json", "not in canonical form: it was edited after export")
    if manifest.get("format") != FORMAT or not isinstance(manifest.get("files"), dict):
        b.fail("manifest.json", f"not a {FORMAT} manifest")
        return None
    listed = manifest["files"]
    for name, want in sorted(listed.items()):
        if name not in b.files:
            b.fail(name, "listed in manifest.json but missing from the bundle")
        elif sha256(b.files[name]) != want:
            b.fail(name, f"sha256 {sha256(b.files[name])[:16]}... does not match manifest.json ({str(want)[:16]}...): the file was changed")
    for name in sorted(set(b.files) - set(listed) - {"manifest.json"}):
        b.fail(name, "in the bundle but not listed in manifest.json")
    return manifest


def check_chain(b, manifest):
    entries = b.lines("chain/entries.jsonl")
    head = b.json("chain/head.json")
    by_seq = {}
    prev = None
    for e in entries:
        try:
            seq = e["seq"]
            if sha256(e["payload_json"].encode("utf-8")) != e["payload_hash"]:
                b.fail("chain/entries.jsonl", f"entry {seq}: payload does not match its payload_hash")
            if entry_hash(e) != e["entry_hash"]:
                b.fail("chain/entries.jsonl", f"entry {seq}: entry_hash does not match the entry's content")
            if prev is None:
                if seq == 1 and e["prev_hash"] != GENESIS:
                    b.fail("chain/entries.jsonl", "entry 1 does not start from the genesis hash")
            else:
                if seq != prev["seq"] + 1:
                    b.fail("chain/entries.jsonl", f"entry {prev['seq'] + 1} is missing (next is {seq})")
                if e["prev_hash"] != prev["entry_hash"]:
                    b.fail("chain/entries.jsonl", f"entry {seq}: prev_hash does not link to entry {prev['seq']}")
            by_seq[seq] = json.loads(e["payload_json"]).get("tables", {})
            prev = e
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            b.fail("chain/entries.jsonl", f"malformed entry ({err!r})")
    if prev is None:
        b.fail("chain/entries.jsonl", "holds no audit entry")
        return by_seq, None
    if not isinstance(head, dict) or head.get("seq") != prev["seq"] or head.get("entry_hash") != prev["entry_hash"]:
        b.fail("chain/head.json", "does not name the last entry of chain/entries.jsonl")
    if manifest is not None and manifest.get("head") != head:
        b.fail("manifest.json", "its head differs from chain/head.json")
    return by_seq, prev


def check_rows(b, tables_by_seq):
    covered = b.json("chain/row_hashes.json")
    known = {}
    if not isinstance(covered, dict):
        return known
    for seq_text, tables in sorted(covered.items()):
        seq = int(seq_text)
        claims = tables_by_seq.get(seq)
        if claims is None:
            b.fail("chain/row_hashes.json", f"entry {seq} is not in the chain segment")
            continue
        for table, hashes in sorted(tables.items()):
            claim = claims.get(table)
            if claim is None or claim.get("rows") != len(hashes) or claim.get("hash") != sha256("".join(sorted(hashes)).encode()):
                b.fail("chain/row_hashes.json", f"the {table} rows of entry {seq} do not give that entry's payload")
                continue
            known.setdefault(seq, {})[table] = set(hashes)
    rows = {}
    for item in b.lines("chain/rows.jsonl"):
        try:
            table, row = item["table"], item["row"]
            seq = row["audit_seq"]
            digest = row_hash(table, row)
        except (KeyError, TypeError, ValueError) as err:
            b.fail("chain/rows.jsonl", f"malformed row ({err!r})")
            continue
        if digest not in known.get(seq, {}).get(table, ()):
            b.fail("chain/rows.jsonl", f"{table}/{row.get('id', '?')} does not hash to a row its entry {seq} recorded: it was changed")
        rows[(table, row.get("id"))] = (row, digest)
    return rows


def check_documents(b, rows):
    hashes = {row["content_hash"] for (table, _), (row, _) in rows.items() if table == "artifacts"}
    for name in sorted(n for n in b.files if n.startswith("documents/")):
        if sha256(b.files[name]) not in hashes:
            b.fail(name, "its sha256 is not the content_hash of any chained artifact row")
    results = b.json("checks/check_results.json")
    for item in results or []:
        found = rows.get(("check_results", item.get("id")))
        if found is None:
            b.fail("checks/check_results.json", f"check result {item.get('id')} is not among the chained rows")
        elif found[1] != item.get("row_hash"):
            b.fail("checks/check_results.json", f"check result {item.get('id')}: row_hash differs from the chained row")


def signature_problem(ssh_keygen, approval, signed):
    """None when the signature holds for the approval (ssh-keygen -Y verify), else why not."""
    who = f"{approval['approver']}@{approval['role']}"
    if signed.get("principal") != who:
        return f"the signature was made for '{signed.get('principal')}', but the approval is by '{who}'"
    message = canonical({"namespace": "govflow", "approval": {k: approval[k] for k in SIGNED_FIELDS}})
    with tempfile.TemporaryDirectory() as tmp:
        allowed, sig = Path(tmp, "allowed_signers"), Path(tmp, "approval.sig")
        allowed.write_text(f'"{who}" namespaces="govflow" {signed["public_key"]}\n', encoding="utf-8")
        sig.write_text(signed["signature"], encoding="utf-8")
        done = subprocess.run([ssh_keygen, "-Y", "verify", "-f", str(allowed), "-I", who, "-n", "govflow",
                               "-s", str(sig)], input=message, capture_output=True, timeout=120, check=False)
    if done.returncode == 0:
        return None
    said = (done.stderr or done.stdout).decode("utf-8", "replace").strip().splitlines()
    return f"the signature does not verify ({said[-1] if said else 'ssh-keygen refused it'}): the approval or its signature was changed"


def check_signatures(b, rows):
    """Every signed approval against its recorded key; (checked, skipped: ssh-keygen missing)."""
    signed = [row for (table, _), (row, _) in sorted(rows.items(), key=lambda kv: str(kv[0])) if table == "approval_signatures"]
    if not signed:
        return 0, False
    ssh_keygen = shutil.which("ssh-keygen")
    if ssh_keygen is None:
        return 0, True
    for item in signed:
        found = rows.get(("approvals", item.get("approval_id")))
        where = f"approval_signatures/{item.get('id')}"
        if found is None:
            b.fail("chain/rows.jsonl", f"{where} signs approval {item.get('approval_id')}, which the bundle does not hold")
            continue
        try:
            problem = signature_problem(ssh_keygen, found[0], item)
        except (KeyError, TypeError, OSError, subprocess.SubprocessError) as err:
            problem = f"cannot be checked ({err!r})"
        if problem:
            b.fail("chain/rows.jsonl", f"approvals/{found[0].get('id')} ({item.get('principal')}): {problem}")
    return len(signed), False


def verify(where):
    b = Bundle(where)
    manifest = check_manifest(b)
    tables_by_seq, head = check_chain(b, manifest)
    rows = check_rows(b, tables_by_seq)
    check_documents(b, rows)
    b.signatures = check_signatures(b, rows)
    return b, head, rows


def main(argv):
    where = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent
    try:
        b, head, rows = verify(where)
    except (OSError, zipfile.BadZipFile, zlib.error) as e:
        print(f"cannot read the bundle at {where}: {e}")
        return 2
    if b.problems:
        print(f"BUNDLE NOT INTACT: {len(b.problems)} problem(s)")
        for problem in b.problems:
            print(f"  {problem}")
        return 1
    first = min((r[0]["audit_seq"] for r in rows.values()), default=None)
    print(f"bundle intact: {len(b.files)} files, {len(rows)} chained rows re-hashed (from entry {first}), "
          f"chain segment to head {head['seq']} {head['entry_hash']}")
    checked, skipped = b.signatures
    if skipped:
        unchecked = sum(1 for (table, _) in rows if table == "approval_signatures")
        print(f"WARNING: ssh-keygen was not found on PATH: {unchecked} approval signature(s) were NOT checked; "
              "install OpenSSH 8.1 or later and run this again to check them")
    elif checked:
        print(f"{checked} approval signature(s) checked with ssh-keygen -Y verify")
    print(f"check the ledger still holds it: govflow verify --head {head['entry_hash']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
