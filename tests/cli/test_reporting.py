"""`govflow versions NAME` and `--json` on the commands that report, on one real story: train a credit
model, gate it (a relaxed policy, so it passes), two named approvals, promote it, train a second version.

People get rounded numbers and minutes; programs get `--json` with every number and timestamp exact.
The `versions` outputs are compared with golden files after the volatile values (ids, times, hashes,
the OS user) are replaced by placeholders.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from govflow.cli.main import app
from govflow.cli.versions import NOT_A_NAME
from tests.cli.helpers import CONFIG, Done, govflow

GOLDEN = Path(__file__).resolve().parent / "golden"
SYSTEM = "credit-scoring"
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
MINUTE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC")
UPDATE = "GOVFLOW_UPDATE_GOLDEN"  # set it to rewrite the golden files from this run (then read the diff)


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("home")

    def run(*args: str) -> Done:
        return govflow("--home", str(home), *args)

    def step(*args: str) -> Done:
        done = run(*args)
        assert done.code == 0, (args, done)
        return done

    steps: dict[str, Any] = {"home": home, "run": run}
    steps["train"] = step("run", "train", "-c", str(CONFIG), "--json")
    steps["gate"] = step("run", "gate", "-c", str(CONFIG), "--version", "1", "--json")
    steps["approve"] = step("approve", f"{SYSTEM}:1", "--as", "Dana Meyer", "--role", "model_owner",
                           "--reason", "model card and fairness results reviewed", "--json")
    steps["approve_text"] = step("approve", f"{SYSTEM}:1", "--as", "Ravi Patel", "--role", "risk_officer",
                                "--reason", "within the policy; monitoring plan agreed")
    steps["promote"] = step("promote", f"{SYSTEM}:1", "--json")
    steps["train_text"] = step("run", "train", "-c", str(CONFIG))
    return steps


def placeholders(value: Any, key: str = "") -> Any:
    """``value`` with what changes from run to run replaced: ids, times, hashes."""
    if isinstance(value, dict):
        return {k: placeholders(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [placeholders(v) for v in value]
    if isinstance(value, str):
        if key == "policy_hash":
            return "<sha256>"
        return TIMESTAMP.sub("<time>", value)
    return value


def test_versions_json_matches_its_golden_file(story: dict[str, Any]) -> None:
    done = story["run"]("versions", SYSTEM, "--json")
    assert (done.code, done.err) == (0, "")
    found = json.loads(done.out)
    if os.environ.get(UPDATE):
        (GOLDEN / "versions.json").write_text(json.dumps(placeholders(found), sort_keys=True, indent=1) + "\n")
    golden = json.loads((GOLDEN / "versions.json").read_text())
    assert json.dumps(placeholders(found), sort_keys=True, indent=1) == json.dumps(golden, sort_keys=True, indent=1)
    exact = found["versions"][0]
    assert TIMESTAMP.fullmatch(exact["in_production_since"]) and TIMESTAMP.fullmatch(exact["gate"]["decided_at"])
    assert len(exact["gate"]["policy_hash"]) == 64


def test_versions_text_matches_its_golden_file(story: dict[str, Any]) -> None:
    done = story["run"]("versions", SYSTEM)
    assert (done.code, done.err) == (0, "")
    assert MINUTE.search(done.out)  # minutes, for people
    text = MINUTE.sub("2000-01-01 00:00 UTC", done.out)
    if os.environ.get(UPDATE):
        (GOLDEN / "versions.txt").write_text(text)
    assert text == (GOLDEN / "versions.txt").read_text()
    assert max(len(line) for line in done.out.splitlines()) <= 100


def test_versions_refuses_what_is_not_a_system(story: dict[str, Any]) -> None:
    done = story["run"]("versions", "no-such-system")
    assert (done.code, done.out) == (2, "")
    assert done.err == ("error: no model versions recorded for system 'no-such-system'; train one with "
                        "`govflow run train -c govflow.yaml`\n")
    done = story["run"]("versions", f"{SYSTEM}:1")
    assert (done.code, done.err) == (2, f"error: {NOT_A_NAME.format(name=f'{SYSTEM}:1', system=SYSTEM)}\n")
    assert done.err == "error: 'credit-scoring:1' is a version reference; give the system's name alone, e.g. govflow versions credit-scoring\n"


def test_versions_in_colour_on_a_terminal_and_never_with_no_color(story: dict[str, Any],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVFLOW_HOME", str(story["home"]))  # the CLI sets it: restored after the test
    monkeypatch.delenv("NO_COLOR", raising=False)
    coloured = CliRunner().invoke(app, ["versions", SYSTEM], color=True)
    assert coloured.exit_code == 0, coloured.output
    assert "\x1b[32mproduction " in coloured.output and "\x1b[32mpass  " in coloured.output
    monkeypatch.setenv("NO_COLOR", "1")
    plain = CliRunner().invoke(app, ["versions", SYSTEM], color=True)
    assert "\x1b[" not in plain.output
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured.output) == plain.output


def test_train_json_is_exact(story: dict[str, Any]) -> None:
    done = story["train"]
    found = json.loads(done.out)  # nothing but the JSON on stdout (Prefect's own log lines go to stderr)
    assert found["version"] == f"{SYSTEM}:1" and found["validation_passed"] is True
    observed = [r["observed"] for r in found["performance"]["results"] if isinstance(r["observed"], float)]
    assert observed and any(len(repr(x).split(".")[1]) > 3 for x in observed)  # not rounded
    text = story["train_text"]
    assert text.out.startswith(f"training {SYSTEM} on ../../data/german_credit.csv ...\nregistered {SYSTEM}:2 as candidate "
                               "(validation passed, held-out performance ")
    assert "done in" not in text.err  # the progress line is for a terminal only


def test_gate_json_holds_the_checks_exactly(story: dict[str, Any]) -> None:
    found = json.loads(story["gate"].out)
    assert (found["version"], found["outcome"]) == (f"{SYSTEM}:1", "pass")
    assert {c["kind"] for c in found["checks"]} >= {"fairness", "performance"}
    fairness = next(c for c in found["checks"] if c["kind"] == "fairness")
    dpd = next(r for r in fairness["results"] if r["name"] == "demographic_parity_difference")
    assert isinstance(dpd["observed"], float) and dpd["threshold"] == 1.0
    assert found["documents"] and all(isinstance(d, str) for d in found["documents"])


def test_approve_and_promote_json(story: dict[str, Any]) -> None:
    approve = story["approve"]
    assert (approve.code, approve.err) == (0, "")
    row = json.loads(approve.out)
    assert (row["version"], row["approver"], row["role"], row["decision"]) == (f"{SYSTEM}:1", "Dana Meyer",
                                                                               "model_owner", "approve")
    assert len(row["evidence_hash"]) == 64
    text = story["approve_text"]
    assert text.code == 0 and text.out.startswith(f"{SYSTEM}:1 approved by Ravi Patel (risk_officer, OS user ")
    found = json.loads(story["promote"].out)
    assert (found["version"], found["stage"]) == (f"{SYSTEM}:1", "production")
    assert found["documents"]


def test_verify_json_and_text(story: dict[str, Any]) -> None:
    as_json = story["run"]("verify", "--json")
    assert (as_json.code, as_json.err) == (0, "")
    found = json.loads(as_json.out)
    assert found["intact"] is True and found["findings"] == []
    assert found["head"]["seq"] == found["entries"] and len(found["head"]["hash"]) == 64
    text = story["run"]("verify")
    assert text.out.startswith(f"ledger intact: {found['entries']} entries, ")
    assert text.out.endswith(f"\nhead {found['head']['seq']} {found['head']['hash']}\n")


def test_gap_json(story: dict[str, Any]) -> None:
    done = story["run"]("gap", "-c", str(CONFIG), "--framework", "eu_ai_act", "--json")
    found = json.loads(done.out)  # the report alone on stdout
    assert found["system"] == SYSTEM and found["production"] == f"{SYSTEM}:1"
    assert done.code == (0 if found["passed"] else 1)
    assert found["artifact_ids"] and found["run_id"]
    assert [f["name"] for f in found["frameworks"]] == ["eu_ai_act"]
