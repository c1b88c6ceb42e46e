"""`trace prediction` shows the inputs and a rounded score; `trace model` shortens the gate's reasons at a
word; long lines are wrapped within 100 columns on a terminal (a pipe keeps one record a line, for grep)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from govflow.cli import output
from govflow.governance.trail.trace import rounded
from tests.cli.helpers import CONFIG, Done, govflow

DATA = Path(__file__).resolve().parents[2] / "data" / "german_credit.csv"
SYSTEM = "credit-scoring"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A promoted credit model that scored three applications."""
    home = tmp_path_factory.mktemp("home")
    rows = tmp_path_factory.mktemp("rows") / "applications.csv"
    rows.write_text("".join(DATA.read_text().splitlines(keepends=True)[:4]))

    def run(*args: str) -> Done:
        done = govflow("--home", str(home), *args)
        assert done.code == 0, (args, done)
        return done

    run("run", "train", "-c", str(CONFIG))
    run("run", "gate", "-c", str(CONFIG), "--version", "1")
    for name, role in (("Dana Meyer", "model_owner"), ("Ravi Patel", "risk_officer")):
        run("approve", f"{SYSTEM}:1", "--as", name, "--role", role, "--reason", "reviewed")
    run("promote", f"{SYSTEM}:1")
    scored = run("run", "score", "-c", str(CONFIG), "--input", str(rows))
    prediction = re.search(r"govflow trace prediction (\S+);", scored.out)
    assert prediction, scored.out
    as_json = run("run", "score", "-c", str(CONFIG), "--input", str(rows), "--json")
    return {"run": run, "prediction": prediction.group(1), "scored_json": as_json.out}


def test_score_json(served: dict[str, Any]) -> None:
    found = json.loads(served["scored_json"])  # nothing but the JSON on stdout
    assert (found["version"], found["input_rows"], found["logged"]) == (f"{SYSTEM}:1", 3, 3)
    assert found["first_prediction_id"] and found["first_prediction_id"] != served["prediction"]
    assert "creditability" in found["ignored_columns"]


def test_trace_prediction_shows_the_inputs_and_a_rounded_score(served: dict[str, Any]) -> None:
    exact = json.loads(served["run"]("trace", "prediction", served["prediction"], "--json").out)
    score = exact["prediction"]["output"]["score"]
    assert isinstance(score, float) and len(repr(score).split(".")[1]) > 3  # the JSON keeps it exact
    text = served["run"]("trace", "prediction", served["prediction"]).out
    shown = json.dumps(rounded(exact["prediction"]["output"]), sort_keys=True)
    assert f"output: {shown}\n" in text
    assert f'"score": {round(score, 3)}' in text and repr(score) not in text
    features = exact["prediction"]["input"]["features"]
    assert f"─ credit_amount = {features['credit_amount']}\n" in text
    assert f"─ purpose = {json.dumps(features['purpose'])}\n" in text
    for name, value in exact["prediction"]["input"]["sensitive"].items():
        assert f"─ {name} = {json.dumps(value)} (sensitive)\n" in text


def test_trace_model_shortens_the_gate_reasons_at_a_word(served: dict[str, Any]) -> None:
    view = json.loads(served["run"]("versions", SYSTEM, "--json").out)
    reasons = "; ".join(view["versions"][0]["gate"]["reasons"])
    assert len(reasons) > 200  # long enough to be shortened
    text = served["run"]("trace", "model", f"{SYSTEM}:1").out
    line = next(line for line in text.splitlines() if "─ gate pass · " in line)
    shown = line.split(" · ")[-1]
    assert shown.endswith(" ...") and len(shown) <= 200
    kept = shown[:-len(" ...")]
    assert reasons.startswith(kept) and reasons[len(kept)] == " "  # cut between words


TREE = """model credit-scoring:1 · production
├─ decision: gate pass · 2026-12-07 · policy 7b75f83d61e0 · validation: all critical results passed (85 passed, 0 not judged); performance
│  └─ approval: approve by Dana Meyer (model_owner, OS user root) · 2026-12-07 · a rationale long enough to need a second line here
└─ run: training run train · Completed"""


def test_a_tree_wraps_under_its_own_branch() -> None:
    wrapped = output.wrap_tree(TREE).splitlines()
    assert max(len(line) for line in wrapped) <= 100
    assert wrapped[0] == "model credit-scoring:1 · production"
    assert wrapped[1].startswith("├─ decision: gate pass") and wrapped[2].startswith("│    ")
    approval = next(i for i, line in enumerate(wrapped) if "approval:" in line)
    assert wrapped[approval].startswith("│  └─ approval") and wrapped[approval + 1].startswith("│       ")
    assert wrapped[-1] == "└─ run: training run train · Completed"
    assert " ".join(line.strip(" │├└─") for line in wrapped).split() == " ".join(
        line.strip(" │├└─") for line in TREE.splitlines()).split()  # no word lost, none cut


def test_wrapping_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output, "on_terminal", lambda: False)
    assert output.for_people(TREE) == TREE
    monkeypatch.setattr(output, "on_terminal", lambda: True)
    assert output.for_people(TREE) == output.wrap_tree(TREE) != TREE


def test_wrap_hangs_its_lines_and_never_cuts_a_word() -> None:
    text = "fairness: equalized_odds_difference on personal_status_and_sex & age_in_years = 0.412 (bound 0.1)"
    lines = output.wrap(text, indent="  - ", width=60)
    assert lines == ["  - fairness: equalized_odds_difference on", "    personal_status_and_sex & age_in_years = 0.412 (bound",
                     "    0.1)"]


def test_numbers_and_times_for_people() -> None:
    from datetime import UTC, datetime

    assert (output.number(0.5993998499624906), output.number(3), output.number(None)) == ("0.599", "3", "-")
    assert output.when("2026-12-07T17:40:12.123456Z") == output.when(datetime(2026, 12, 7, 17, 40, 59, tzinfo=UTC)) \
        == "2026-12-07 17:40 UTC"
    assert rounded({"score": 0.5993998499624906, "decision": "good", "all": [0.12345, 1]}) == \
        {"score": 0.599, "decision": "good", "all": [0.123, 1]}


def test_colour_never_with_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert output.verdict("BLOCK") == "\x1b[31m\x1b[1mBLOCK\x1b[0m"
    assert output.verdict("pass  ") == "\x1b[32mpass  \x1b[0m"
    assert output.verdict("candidate") == "candidate"
    monkeypatch.setenv("NO_COLOR", "1")
    assert output.verdict("BLOCK") == "BLOCK"
