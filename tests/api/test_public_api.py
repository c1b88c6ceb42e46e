"""`import govflow`: the public API, as a user's own code and type checker see it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

import govflow
from govflow.flows.recording import set_ledger
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import Run

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "data" / "credit-scoring.govflow.yaml"

TYPED_USER_CODE = textwrap.dedent("""
    import govflow


    @govflow.task
    def double(x: int) -> int:
        return 2 * x


    @govflow.task(name="shout-step", retries=1)
    def shout(text: str) -> str:
        return text.upper()


    @govflow.flow
    def pipeline(n: int) -> str:
        total: int = double(n)
        return shout(str(total))


    answer: str = pipeline(3)
""")


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[Ledger]:
    ledger = Ledger.open(home=tmp_path / "home")
    set_ledger(ledger)
    yield ledger
    set_ledger(None)
    ledger.close()


def test_import_govflow_loads_neither_prefect_nor_pandas() -> None:
    code = ("import sys, govflow; print(sorted(m for m in ('prefect', 'pandas', 'sqlalchemy') if m in sys.modules)); "
            "govflow.task; print('prefect' in sys.modules or 'pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.splitlines() == ["[]", "True"], out.stdout + out.stderr


def test_every_public_name_resolves_and_nothing_else_is_offered() -> None:
    assert set(govflow.__all__) == {"task", "flow", "open_ledger", "train", "register", "gate", "Candidate", "GateResult",
                                    "GovflowError", "ComplianceBlocked", "__version__"}
    for name in govflow.__all__:
        assert getattr(govflow, name) is not None
    assert govflow.ComplianceBlocked.exit_code == 1 and issubclass(govflow.ComplianceBlocked, govflow.GovflowError)
    with pytest.raises(AttributeError, match="module 'govflow' has no attribute 'set_ledger'"):
        govflow.set_ledger  # noqa: B018 - internal names are not part of the API


def test_mypy_sees_a_recorded_functions_signature(tmp_path: Path) -> None:
    good = tmp_path / "good.py"
    good.write_text(TYPED_USER_CODE)
    bad = tmp_path / "bad.py"
    bad.write_text(TYPED_USER_CODE + 'double("three")\nshout(3)\npipeline(n="x")\nwrong: int = shout("a")\n')
    mypy = [str(Path(sys.executable).parent / "mypy"), "--config-file", "pyproject.toml", "--no-error-summary"]
    passed = subprocess.run([*mypy, str(good)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    failed = subprocess.run([*mypy, str(bad)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    errors = [line for line in failed.stdout.splitlines() if ": error: " in line]
    start = TYPED_USER_CODE.count("\n") + 1
    assert [line.split(":")[1] for line in errors] == [str(start + i) for i in range(4)], failed.stdout
    assert 'of "RecordedTask" matches argument type "str"' in errors[0]
    assert 'of "RecordedTask" matches argument type "int"' in errors[1]
    assert 'of "RecordedFlow" matches argument type "str"' in errors[2]
    assert 'Incompatible types in assignment (expression has type "str", variable has type "int")' in errors[3]
    assert "def __call__(self, x: int) -> int" in failed.stdout


def test_open_ledger_opens_the_ledger_in_the_home_given(tmp_path: Path) -> None:
    ledger = govflow.open_ledger(home=tmp_path / "home")
    try:
        assert ledger.home == (tmp_path / "home").absolute()
        assert (tmp_path / "home" / "ledger.db").is_file()
    finally:
        ledger.close()


def test_train_and_gate_inside_a_users_flow(recorder: Ledger) -> None:
    @govflow.task
    def prepare(rows: int) -> pd.DataFrame:
        return pd.read_csv(CONFIG.parent / "german_credit.csv").head(rows)

    @govflow.flow(name="user-release")
    def release(rows: int) -> tuple[govflow.Candidate, govflow.GateResult]:
        trained = govflow.train(CONFIG, data=prepare(rows))
        return trained, govflow.gate(CONFIG, trained.version)

    trained, decided = release(600)
    assert (trained.system, trained.version, trained.ref) == ("credit-scoring", 1, "credit-scoring:1")
    assert trained.validation_passed is True
    assert decided.ref == "credit-scoring:1" and decided.outcome in ("pass", "block")
    assert decided.passed is (decided.outcome == "pass") and decided.reasons and len(decided.policy_hash) == 64
    assert any(doc.startswith("model-card-credit-scoring-v1") for doc in decided.documents)
    with recorder.read() as conn:
        runs = {r.name: r for r in conn.execute(select(Run.id, Run.name, Run.parent_run_id, Run.kind)).all()}
    assert runs["train"].parent_run_id == runs["user-release"].id  # a subflow of the user's flow
    assert runs["gate"].parent_run_id == runs["user-release"].id
    assert runs["prepare"].parent_run_id == runs["user-release"].id and runs["prepare"].kind == "task"


def test_bad_input_to_train_and_gate_says_what_is_wrong(recorder: Ledger, tmp_path: Path) -> None:
    with pytest.raises(govflow.GovflowError, match="config file .*nowhere.yaml not found") as missing:
        govflow.train(tmp_path / "nowhere.yaml")
    assert missing.value.exit_code == 2
    no_target = pd.DataFrame({"age_in_years": [30, 40], "personal_status_and_sex": ["a", "b"]})
    with pytest.raises(govflow.GovflowError, match="data.target: column 'creditability' is not in the data "
                                                   "passed to govflow.train") as bad_frame:
        govflow.train(CONFIG, data=no_target)
    assert bad_frame.value.exit_code == 2
    with pytest.raises(govflow.GovflowError, match="no model versions recorded for system 'credit-scoring'") as none:
        govflow.gate(CONFIG, 7)
    assert none.value.exit_code == 2


def test_register_a_model_fitted_in_the_users_own_flow(recorder: Ledger, tmp_path: Path) -> None:
    import joblib
    import skops.io

    from tests.register.models import DEMO_CONFIG, fitted, split

    train_file, test_file = split(tmp_path)
    model = fitted(train_file)
    pickled = tmp_path / "model.joblib"
    joblib.dump(model, pickled)
    with pytest.raises(govflow.GovflowError, match="model.joblib is a pickle: loading it executes code") as refused:
        govflow.register(DEMO_CONFIG, pickled, train_file, test_file)
    assert refused.value.exit_code == 2
    with recorder.read() as conn:
        assert conn.execute(select(Run.id)).first() is None  # refused before anything was recorded

    @govflow.flow(name="user-adopt")
    def adopt(model_file: Path) -> govflow.Candidate:
        return govflow.register(DEMO_CONFIG, model_file, train_file, test_file, trained_by="Risk modelling team")

    skops_file = tmp_path / "model.skops"
    skops.io.dump(model, skops_file)
    candidate = adopt(skops_file)
    assert (candidate.ref, candidate.validation_passed) == ("credit-scoring:1", True)
    with recorder.read() as conn:
        runs = {r.name: r for r in conn.execute(select(Run.id, Run.name, Run.parent_run_id)).all()}
    assert runs["register"].parent_run_id == runs["user-adopt"].id
