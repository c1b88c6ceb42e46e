"""heads.log: advanced by every command that writes (and by `serve`), whole lines, and never a false alarm
or an internal error for a file that is torn, garbled, a directory, or on a full disk."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from govflow.governance.ledger.anchors import HeadsFile
from govflow.governance.ledger.engine import Ledger
from govflow.web.app import create_app
from tests.ledger.anchors.conftest import Key, govflow_cli
from tests.ledger.helpers import record_step


def logged(ledger: Ledger) -> list[tuple[int, str]]:
    return [(h.seq, h.entry_hash) for h in HeadsFile(ledger.home / "heads.log").read()]


def test_every_writing_command_advances_the_head_and_a_reading_one_does_not(ledger: Ledger) -> None:
    created = govflow_cli(ledger, "token", "create", "--role", "auditor")
    assert created.returncode == 0, created.stderr
    assert logged(ledger) == [ledger.head()]
    listed = govflow_cli(ledger, "token", "list")
    assert listed.returncode == 0, listed.stderr
    assert logged(ledger) == [ledger.head()]  # nothing written: no new line
    second = govflow_cli(ledger, "token", "create", "--role", "operator")
    assert second.returncode == 0, second.stderr
    first_head = logged(ledger)[0]
    assert logged(ledger) == [first_head, ledger.head()]


def test_serve_anchors_the_head_within_a_second_of_a_write(ledger: Ledger) -> None:
    with TestClient(create_app(ledger)):
        before = logged(ledger)
        record_step(ledger)
        deadline = time.monotonic() + 3
        while logged(ledger) == before and time.monotonic() < deadline:
            time.sleep(0.1)
        assert logged(ledger)[-1] == ledger.head()
        assert time.monotonic() < deadline


def test_a_torn_last_line_is_skipped_with_a_warning_not_reported_as_tampering(ledger: Ledger) -> None:
    created = govflow_cli(ledger, "token", "create", "--role", "auditor")
    assert created.returncode == 0, created.stderr
    log = ledger.home / "heads.log"
    whole = log.read_text()
    torn = whole[: len(whole) // 2]  # a writer that died mid-line: half of a line, no newline
    log.write_text(whole + torn)
    result = govflow_cli(ledger, "verify")
    assert result.returncode == 0, result.stderr
    assert result.stderr == (f"warning: heads.log: the last line is incomplete (a write was cut short) and was "
                             f"ignored: {torn[:80]!r}\n")


def test_bad_bytes_in_heads_log_are_exit_2_with_the_line(ledger: Ledger) -> None:
    created = govflow_cli(ledger, "token", "create", "--role", "auditor")
    assert created.returncode == 0, created.stderr
    log = ledger.home / "heads.log"
    with open(log, "ab") as handle:
        handle.write(b"2026-01-01T00:00:00Z \xff\xfe\x00garbage 3 abc\n")
    result = govflow_cli(ledger, "verify")
    assert result.returncode == 2, result.stderr
    offset = len(log.read_bytes().split(b"\xff")[0])
    assert result.stderr == (f"error: {log}: line 2 holds bytes that are not UTF-8 text (at byte {offset}): this is "
                             "not a file of chain heads as govflow writes it; restore it from a copy\n")


def test_a_line_that_is_not_a_head_is_exit_2(ledger: Ledger) -> None:
    log = ledger.home / "heads.log"
    log.write_text("not a head at all\n")
    result = govflow_cli(ledger, "verify")
    assert result.returncode == 2
    assert result.stderr == (f"error: {log}: line 1 is not a chain head (expected 4 or 6 fields, found 5): "
                             "'not a head at all'; restore the file from a copy\n")


def test_a_directory_in_place_of_heads_log_is_exit_2_for_verify_and_for_a_writer(ledger: Ledger) -> None:
    log = ledger.home / "heads.log"
    log.mkdir()
    verified = govflow_cli(ledger, "verify")
    assert verified.returncode == 2, verified.stderr
    assert verified.stderr == f"error: {log} is a directory, not a file of chain heads; move it away\n"
    created = govflow_cli(ledger, "token", "create", "--role", "auditor")
    assert created.returncode == 2, created.stderr
    assert created.stderr.splitlines()[-1] == (
        f"error: {log} is a directory where the file of chain heads must be; move it away (govflow appends one "
        "line per head there)")


def test_a_full_disk_under_heads_log_is_exit_2_with_a_message(ledger: Ledger) -> None:
    log = ledger.home / "heads.log"
    os.symlink("/dev/full", log)  # every write there fails with ENOSPC
    created = govflow_cli(ledger, "token", "create", "--role", "auditor")
    assert created.returncode == 2, created.stderr
    assert created.stderr.splitlines()[-1] == (
        f"error: cannot append the chain head to {log}: No space left on device; the ledger itself is written, "
        "but its head is not anchored: free space or fix the path, then run `govflow verify` to record the head")
    verified = govflow_cli(ledger, "verify")
    assert verified.returncode == 2
    assert verified.stderr == f"error: {log} is not a regular file of chain heads; replace it with the file itself\n"


def test_a_sink_that_cannot_be_reached_is_a_warning_for_a_writer_and_exit_2_for_verify(ledger: Ledger) -> None:
    url = "http://127.0.0.1:9/govflow/heads"  # the discard port: nothing listens
    created = govflow_cli(ledger, "token", "create", "--role", "auditor", anchors=url)
    assert created.returncode == 0, created.stderr
    assert f"warning: anchor {url} not updated (could not publish the chain head to {url}: " in created.stderr
    assert logged(ledger) == [ledger.head()]  # heads.log still holds it
    verified = govflow_cli(ledger, "verify", "--anchors", anchors=url)
    assert verified.returncode == 2
    assert verified.stderr.startswith(f"error: could not read heads from {url}: ")


def test_keys_create_refuses_to_overwrite_and_writes_mode_0600(ledger: Ledger, tmp_path: Path) -> None:
    out = tmp_path / "keys" / "anchor.key"
    made = govflow_cli(ledger, "keys", "create", "--out", str(out))
    assert made.returncode == 0, made.stderr
    assert made.stdout.splitlines()[0] == f"private key: {out} (mode 0600)"
    assert made.stdout.splitlines()[1].startswith("public key:  ")
    assert "never inside the govflow home" in made.stdout
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    before = out.read_bytes()
    again = govflow_cli(ledger, "keys", "create", "--out", str(out))
    assert again.returncode == 2
    assert again.stderr == (f"error: {out} already exists; govflow never overwrites a key (heads signed with it could "
                            "no longer be checked). Choose another --out, or remove the file yourself\n")
    assert out.read_bytes() == before
    inside = govflow_cli(ledger, "keys", "create", "--out", str(ledger.home / "anchor.key"))
    assert inside.returncode == 2
    assert "is inside the govflow home" in inside.stderr


def test_a_key_readable_by_others_is_refused(ledger: Ledger, key: Key) -> None:
    key.path.chmod(0o644)
    created = govflow_cli(ledger, "token", "create", "--role", "auditor", anchors=f"key:{key.path}")
    assert created.returncode == 2
    assert created.stderr.splitlines()[-1] == (
        f"error: the anchor signing key {key.path} can be read by other users (mode 644); run `chmod 600 {key.path}`")


@pytest.mark.parametrize("value, message", [
    ("ftp://x", "error: GOVFLOW_ANCHORS: 'ftp://x' is not an anchor; use file:PATH, folder:PATH, http(s)://URL, "
                "prefect, key:PATH or public-key:BASE64, separated by commas"),
    ("public-key:abc", "error: anchors public_key 'abc' is not an Ed25519 public key (the base64 text `govflow keys "
                       "create` prints, or a file holding it)"),
])
def test_bad_anchor_settings_are_exit_2(ledger: Ledger, value: str, message: str) -> None:
    result = govflow_cli(ledger, "verify", "--anchors", anchors=value)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == message
