"""Chain heads kept outside the ledger, so truncation, rollback and a re-hashed forgery show.

The chain proves that the entries it holds are consistent; only a head recorded elsewhere proves
that none were removed or replaced as a whole. A `Head` (ledger id, seq, entry hash, time, and an
Ed25519 signature when a key is configured) is published to one or more `Sink`s: ``heads.log`` in the
govflow home (always), and, as the ``anchors:`` config or ``GOVFLOW_ANCHORS`` says, a file or folder
on another path, an HTTP endpoint, or the Prefect API (`govflow.flows.anchor_prefect`). `check` compares what
each sink holds with the chain and says which one disagrees, and why.

Head files hold one line per head, appended with one ``O_APPEND`` write, so a line is whole or, if the
writer died mid-write, a torn last line that is skipped with a warning.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select

from govflow import canonical as canon
from govflow.errors import InputError
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import AuditEntry

if TYPE_CHECKING:
    from govflow.governance.ledger.anchor_keys import Signer, Verifier

HEADS_LOG = "heads.log"
_HASH = re.compile(r"[0-9a-f]{64}")


class AnchorError(InputError):
    """An anchor that cannot be read or written (exit 2: the fix is on the user's side)."""

    errno: int | None = None  # the OS error behind it, when there was one


@dataclass(frozen=True)
class Head:
    ledger_id: str
    seq: int
    entry_hash: str
    at: str
    key_id: str = ""
    signature: str = ""

    def signed_bytes(self) -> bytes:
        return canon.canonical({"ledger_id": self.ledger_id, "seq": self.seq, "entry_hash": self.entry_hash,
                                "at": self.at, "key_id": self.key_id})

    def signed(self, signer: Signer | None) -> Head:
        if signer is None:
            return self
        keyed = replace(self, key_id=signer.key_id)
        return replace(keyed, signature=signer.sign(keyed.signed_bytes()))

    def line(self) -> str:
        fields = [self.at, self.ledger_id, str(self.seq), self.entry_hash]
        return " ".join(fields + ([self.key_id, self.signature] if self.signature else [])) + "\n"

    @classmethod
    def parse_line(cls, text: str) -> Head:
        parts = text.split()
        if len(parts) not in (4, 6):
            raise ValueError(f"expected 4 or 6 fields, found {len(parts)}")
        return cls.of({"at": parts[0], "ledger_id": parts[1], "seq": parts[2], "entry_hash": parts[3],
                       "key_id": parts[4] if len(parts) == 6 else "", "signature": parts[5] if len(parts) == 6 else ""})

    @classmethod
    def of(cls, data: Any) -> Head:
        """A head from its JSON form; ValueError when it is not one."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        seq = data.get("seq")
        if isinstance(seq, str) and seq.isascii() and seq.isdecimal():
            seq = int(seq)
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise ValueError(f"seq {seq!r} is not a positive whole number")
        entry_hash = data.get("entry_hash")
        if not isinstance(entry_hash, str) or not _HASH.fullmatch(entry_hash):
            raise ValueError("entry_hash is not 64 hex digits")
        texts = {name: data.get(name, "") for name in ("ledger_id", "at", "key_id", "signature")}
        if not all(isinstance(v, str) and not any(c.isspace() for c in v) for v in texts.values()) or not texts["ledger_id"]:
            raise ValueError("ledger_id, at, key_id and signature must be text without spaces")
        return cls(seq=seq, entry_hash=entry_hash, **texts)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return f"head {self.seq} {self.entry_hash[:16]}..."


class Sink(Protocol):
    """One place heads are kept. ``name`` says where, in messages; ``warnings`` what read() skipped."""

    name: str
    warnings: list[str]

    def publish(self, head: Head) -> None: ...

    def read(self) -> list[Head]: ...


class HeadsFile:
    """A file of head lines: ``heads.log`` in the home, or a file on another path."""

    def __init__(self, path: Path, name: str | None = None) -> None:
        self.path = path
        self.name = name or str(path)
        self.warnings: list[str] = []

    def publish(self, head: Head) -> None:
        line = head.line().encode("utf-8")
        if self.path.is_dir():
            raise AnchorError(f"{self.path} is a directory where the file of chain heads must be; move it away "
                              "(govflow appends one line per head there)")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                written = os.write(fd, line)  # one write: a line lands whole, or torn at the end only
            finally:
                os.close(fd)
        except OSError as e:
            error = AnchorError(f"cannot append the chain head to {self.path}: {e.strerror or e}; the ledger itself "
                                "is written, but its head is not anchored: free space or fix the path, then run "
                                "`govflow verify` to record the head")
            error.errno = e.errno
            raise error from None
        if written != len(line):
            raise AnchorError(f"only {written} of {len(line)} bytes of the chain head reached {self.path} (disk full?); "
                              "free space, then run `govflow verify` to record the head")

    def read(self) -> list[Head]:
        self.warnings = []
        if self.path.is_dir():
            raise AnchorError(f"{self.path} is a directory, not a file of chain heads; move it away")
        if self.path.exists() and not self.path.is_file():  # a device would never end (/dev/zero, /dev/full)
            raise AnchorError(f"{self.path} is not a regular file of chain heads; replace it with the file itself")
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as e:
            raise AnchorError(f"cannot read the chain heads in {self.path}: {e.strerror or e}") from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            line_no = data.count(b"\n", 0, e.start) + 1
            raise AnchorError(f"{self.path}: line {line_no} holds bytes that are not UTF-8 text (at byte {e.start}): "
                              "this is not a file of chain heads as govflow writes it; restore it from a copy") from None
        lines = text.split("\n")
        if lines[-1]:
            self.warnings.append(f"{self.name}: the last line is incomplete (a write was cut short) and was ignored: "
                                 f"{lines[-1][:80]!r}")
        heads = []
        for number, line in enumerate(lines[:-1], start=1):
            if not line.strip():
                continue
            try:
                heads.append(Head.parse_line(line))
            except ValueError as e:
                raise AnchorError(f"{self.path}: line {number} is not a chain head ({e}): {line[:80]!r}; "
                                  "restore the file from a copy") from None
        return heads


class FolderSink:
    """A folder on another path (a mount of another machine, a WORM share): one head file per ledger."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.name = f"folder {folder}"
        self.warnings: list[str] = []

    def _file(self, ledger_id: str) -> HeadsFile:
        return HeadsFile(self.folder / f"govflow-heads-{ledger_id}.log")

    def publish(self, head: Head) -> None:
        self._file(head.ledger_id).publish(head)

    def read(self) -> list[Head]:
        self.warnings = []
        if not self.folder.is_dir():
            return []
        heads: list[Head] = []
        for path in sorted(self.folder.glob("govflow-heads-*.log")):
            one = HeadsFile(path)
            heads += one.read()
            self.warnings += one.warnings
        return heads


class HttpSink:
    """An HTTP endpoint: POST one head as JSON; GET on the same URL gives them all (a list, or {"heads": [...]})."""

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.url = url
        self.name = url
        self.timeout_s = timeout_s
        self.warnings: list[str] = []

    def publish(self, head: Head) -> None:
        body = json.dumps(head.as_json()).encode("utf-8")
        request = urllib.request.Request(self.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        self._call(request, "publish the chain head to")

    def read(self) -> list[Head]:
        self.warnings = []
        raw = self._call(urllib.request.Request(self.url, headers={"Accept": "application/json"}), "read heads from")
        try:
            data = json.loads(raw)
            items = data["heads"] if isinstance(data, dict) else data
            if not isinstance(items, list):
                raise ValueError("expected a list of heads")
            return [Head.of(item) for item in items]
        except (ValueError, KeyError, TypeError) as e:
            raise AnchorError(f"{self.url} did not answer with a list of chain heads ({e})") from None

    def _call(self, request: urllib.request.Request, doing: str) -> bytes:
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return bytes(response.read())
        except urllib.error.HTTPError as e:
            raise AnchorError(f"could not {doing} {self.url}: HTTP {e.code} {e.reason}") from None
        except (urllib.error.URLError, OSError) as e:
            raise AnchorError(f"could not {doing} {self.url}: {getattr(e, 'reason', e)}") from None


# -- heads.log in the home ------------------------------------------------------------------------

def home_log(home: Path) -> HeadsFile:
    return HeadsFile(home / HEADS_LOG, name=HEADS_LOG)


def current_head(ledger: Ledger, signer: Signer | None = None) -> Head:
    seq, entry_hash = ledger.head()
    return Head(ledger.ledger_id(), seq, entry_hash, canon.format_ts(canon.utc_now())).signed(signer)


def append_head(home: Path, ledger_id: str, seq: int, head: str, signer: Signer | None = None) -> None:
    """Keep a head outside the database too: one line in ``<home>/heads.log``."""
    home_log(home).publish(Head(ledger_id, seq, head, canon.format_ts(canon.utc_now())).signed(signer))


def logged_heads(home: Path, ledger_id: str) -> list[str]:
    """The entry hashes ``heads.log`` holds for one ledger (a torn last line is skipped)."""
    return [h.entry_hash for h in home_log(home).read() if h.ledger_id == ledger_id]


# -- checking the ledger against its anchors ------------------------------------------------------

@dataclass(frozen=True)
class Disagreement:
    sink: str
    head: Head | None
    problem: str

    def __str__(self) -> str:
        return f"anchor {self.sink}: {self.head or 'no head'}: {self.problem}"


@dataclass
class AnchorReport:
    checked: dict[str, int] = field(default_factory=dict)  # sink name -> heads of this ledger it holds
    latest: dict[str, int] = field(default_factory=dict)  # sink name -> highest seq it holds
    disagreements: list[Disagreement] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check(ledger: Ledger, sinks: Iterable[Sink], verifier: Verifier | None = None, *,
          strict_identity: bool = False) -> AnchorReport:
    """Every head each sink holds for this ledger, against the chain (and the public key, when given).

    A head beyond the ledger's head means entries were removed (truncation, rollback to an older
    copy); a head whose seq holds another hash means the chain was rewritten; a head whose signature
    fails was forged. ``strict_identity``: a sink holding heads of other ledgers only disagrees too.
    """
    report = AnchorReport()
    ledger_id = ledger.ledger_id()
    head_seq, _ = ledger.head()
    held: list[tuple[str, Head]] = []
    for sink in sinks:
        heads = sink.read()
        report.warnings += sink.warnings
        mine = [h for h in heads if h.ledger_id == ledger_id]
        report.checked[sink.name] = len(mine)
        report.latest[sink.name] = max((h.seq for h in mine), default=0)
        if strict_identity and heads and not mine:
            others = ", ".join(sorted({h.ledger_id for h in heads})[:3])
            report.disagreements.append(Disagreement(sink.name, None, (
                f"it holds heads of ledger(s) {others} and none of this ledger ({ledger_id}): the ledger was "
                "replaced by another one, or this anchor belongs to another ledger")))
        for head in mine:
            problem = verifier.problem(head.key_id, head.signed_bytes(), head.signature) if verifier else None
            if problem:
                report.disagreements.append(Disagreement(sink.name, head, problem))
            else:
                held.append((sink.name, head))
    chain = _entry_hashes(ledger, {h.seq for _, h in held if h.seq <= head_seq})
    for name, head in held:
        if head.seq > head_seq:
            report.disagreements.append(Disagreement(name, head, (
                f"the ledger ends at seq {head_seq}, before this anchored head: entries were removed "
                "(truncation, or a rollback to an older copy)")))
        elif chain.get(head.seq) != head.entry_hash:
            report.disagreements.append(Disagreement(name, head, (
                "an exported chain head is no longer in the chain: the chain was rewritten "
                f"(seq {head.seq} now holds {str(chain.get(head.seq, 'nothing'))[:16]}...)")))
    return report


def _entry_hashes(ledger: Ledger, seqs: set[int]) -> dict[int, str]:
    """The chain's entry hash at each of these seqs (a few queries, however many heads there are)."""
    found: dict[int, str] = {}
    ordered = sorted(seqs)
    with ledger.read() as conn:
        for start in range(0, len(ordered), 500):
            chunk = ordered[start:start + 500]
            found.update(conn.execute(select(AuditEntry.seq, AuditEntry.entry_hash)
                                      .where(AuditEntry.seq.in_(chunk))).tuples().all())
    return found
