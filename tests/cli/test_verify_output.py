"""What `govflow verify` tells people: how many signed decisions it checked (and which fails), and the head
to give `--since` next time, with the command that does it."""

from __future__ import annotations

import json
from pathlib import Path

from govflow.governance.ledger.engine import Ledger
from tests.access.test_signatures import allow, approve, gated, make_key
from tests.cli.helpers import govflow
from tests.ledger.dba import tamper


def signed_ledger(tmp_path: Path) -> tuple[Path, list[int]]:
    """A home whose ledger holds one version approved by two signed approvals; their approval ids."""
    keys = {name: make_key(tmp_path, name) for name in ("dana", "ravi")}
    allow(tmp_path, [("Dana Meyer@model_owner", keys["dana"]), ("Ravi Patel@risk_officer", keys["ravi"])])
    home = tmp_path / "home"
    ledger = Ledger.open(home=home)
    ref = gated(ledger, tmp_path, signed_approvals="required")
    ids = [approve(ledger, ref, "Dana Meyer", "model_owner", keys["dana"])["id"],
           approve(ledger, ref, "Ravi Patel", "risk_officer", keys["ravi"])["id"]]
    ledger.close()
    return home, ids


def test_verify_counts_the_signed_decisions_and_says_how_to_verify_since_its_head(tmp_path: Path) -> None:
    home, _ = signed_ledger(tmp_path)
    text = govflow("--home", str(home), "verify")
    assert (text.code, text.err) == (0, "")
    found = json.loads(govflow("--home", str(home), "verify", "--json").out)
    assert found["signatures"] == {"checked": 2, "hold": True, "failing": []}
    seq, head = found["head"]["seq"], found["head"]["hash"]
    assert text.out.splitlines()[1:] == [
        "2 signed decisions: signatures hold",
        f"next time, verify only what is appended after the head below: govflow verify --since {seq}:{head}",
        f"head {seq} {head}"]  # the head last: scripts read it from the last line
    command = text.out.splitlines()[-2].split(": ", 1)[1].split()
    assert command[:2] == ["govflow", "verify"]
    since = govflow("--home", str(home), *command[1:])  # the line's own command, as given
    assert (since.code, since.err) == (0, "")
    assert since.out.splitlines()[:2] == [f"ledger intact since entry {seq}: 0 new entries, 0 rows, 0 stored files checked",
                                          "2 signed decisions: signatures hold"]


def test_verify_names_the_signed_decision_that_does_not_hold(tmp_path: Path) -> None:
    home, (_, ravi) = signed_ledger(tmp_path)
    ledger = Ledger.open(home=home)
    tamper(ledger, "UPDATE approvals SET rationale = :r WHERE id = :i", r="never looked", i=ravi)
    ledger.close()
    text = govflow("--home", str(home), "verify")
    assert text.code == 1
    assert f"\n1 of 2 signed decisions: signature does not hold: approvals/{ravi} (Ravi Patel@risk_officer)\n" in text.err
    assert "next time" not in text.out + text.err  # a head not trusted is no place to start from
    as_json = govflow("--home", str(home), "verify", "--json")
    assert as_json.code == 1
    assert json.loads(as_json.out)["signatures"] == {
        "checked": 2, "hold": False, "failing": [f"approvals/{ravi} (Ravi Patel@risk_officer)"]}


def test_verify_without_signed_decisions_prints_no_signature_line(tmp_path: Path) -> None:
    Ledger.open(home=tmp_path / "home").close()
    text = govflow("--home", str(tmp_path / "home"), "verify")
    assert text.code == 0 and "signed decision" not in text.out
    assert json.loads(govflow("--home", str(tmp_path / "home"), "verify", "--json").out)["signatures"] == {
        "checked": 0, "hold": True, "failing": []}
