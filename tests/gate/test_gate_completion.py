"""Attacks (issue #13, item 8): a gate run that did not finish, and decisions that are not the gate's.

A real `govflow run gate` is killed (SIGKILL) the moment its pass decision is in the ledger, before
its documents and its final state: `approve` and `promote` must refuse (exit 1) and say the gate run
did not complete, and `trace` must show the run as crashed. Then the neighbours: a pass made by a gate
run of another version, and an older pass followed by a later block for the same version.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from govflow.errors import ComplianceBlocked
from govflow.flows.gate import gate_flow
from govflow.flows.recording import set_ledger
from govflow.flows.train import train_flow
from govflow.governance.config import load_config
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import Artifact, Decision, Run, RunState, StageChange
from govflow.governance.registry import versions as registry
from tests.ledger.helpers import GOVFLOW, govflow

from .conftest import DEFAULT, RELAXED

RELAXED_POLICY = load_config(RELAXED).policy_model().to_dict()  # the policy in force (#16)

ROLES = ["model_owner", "risk_officer"]
V1 = "credit-scoring:1"


@dataclass(frozen=True)
class Result:
    exit_code: int
    output: str


class _Held(Exception):
    """Raised to leave the held write transaction without writing anything."""


@pytest.fixture(autouse=True)
def _govflow_env() -> Iterator[None]:
    """The CLI sets GOVFLOW_HOME / GOVFLOW_DB_URL for its process: keep them to the test."""
    saved = {name: os.environ.get(name) for name in ("GOVFLOW_HOME", "GOVFLOW_DB_URL")}
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def recording(prefect_harness: None, ledger: Ledger) -> Iterator[Ledger]:
    set_ledger(ledger)
    yield ledger
    set_ledger(None)


def url(ledger: Ledger) -> str:
    return ledger.engine.url.render_as_string(hide_password=False)


def cli(ledger: Ledger, *args: str) -> Result:
    """The real command line in a process of its own: ``output`` holds stdout and stderr."""
    done = govflow(*args, home=ledger.home, db=url(ledger))
    return Result(done.returncode, done.stdout + done.stderr)


def approve_all(ledger: Ledger, ref: str) -> list[Result]:
    return [cli(ledger, "approve", ref, "--as", f"{role} person", "--role", role, "--reason", "documents reviewed")
            for role in ROLES]


def decision_of(ledger: Ledger, ref: str) -> dict | None:  # type: ignore[type-arg]
    with ledger.read() as conn:
        return registry.latest_decision(conn, registry.resolve(conn, ref).id)


def kill_gate_after_its_decision(ledger: Ledger, config: Path, attempts: int = 5) -> str:
    """Run the real CLI gate and SIGKILL it once its decision is recorded; the gate flow's run id.

    The moment the decision appears, this process takes the ledger's write lock (the one writers
    queue on), so the gate cannot record anything more before it is killed: exactly the state a
    crash right after the decision leaves. The decision lands with the deciding task's own record
    (one step, one audit entry), so it always names its run. On a loaded machine this process may see
    the decision only after the gate has recorded its documents too; such an attempt is not the state
    checked here, so the gate is run again (a later gate run's decision is the one that counts).
    """
    for _ in range(attempts):
        flow_id, again = _kill_one_gate(ledger, config)
        if not again:
            return flow_id
    raise AssertionError(f"in {attempts} attempts the gate was never killed right after its decision was recorded")


def _kill_one_gate(ledger: Ledger, config: Path) -> tuple[str, bool]:
    before = decision_of(ledger, V1)  # None on the first attempt
    env = {k: v for k, v in os.environ.items() if k not in ("GOVFLOW_DB_URL", "GOVFLOW_HOME")}
    gate = subprocess.Popen([GOVFLOW, "--db", url(ledger), "--home", str(ledger.home), "run", "gate", "-c", str(config),
                             "--version", "1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    deadline = time.monotonic() + 240
    try:
        while (decision := decision_of(ledger, V1)) is None or (before is not None and decision["id"] == before["id"]):
            assert gate.poll() is None, f"the gate ended before its decision: {gate.stdout.read()!r}"  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the gate recorded no decision in time"
            time.sleep(0.02)
        with pytest.raises(_Held), ledger.write("test.hold", "holding the write lock"):
            os.killpg(gate.pid, signal.SIGKILL)
            gate.wait(timeout=30)
            raise _Held
    finally:
        if gate.poll() is None:
            os.killpg(gate.pid, signal.SIGKILL)
            gate.wait(timeout=30)
    assert decision["outcome"] == "pass"
    with ledger.read() as conn:
        flow_id = conn.execute(select(Run.parent_run_id).where(Run.id == decision["run_id"])).scalar_one_or_none()
        assert flow_id is not None, "the decision was committed without the deciding task's record"
        assert conn.execute(select(Run.name).where(Run.id == flow_id)).scalar_one() == "gate"
        states = conn.execute(select(RunState.state).where(RunState.run_id == flow_id)).scalars().all()
        tasks = select(Run.id).where(Run.parent_run_id == flow_id)
        cards = conn.execute(select(Artifact.id).where(Artifact.kind == "model_card",
                                                        Artifact.produced_by_run_id.in_(tasks))).scalars().all()
    return str(flow_id), not (states == ["running"] and cards == [])


def test_a_gate_killed_after_its_pass_cannot_be_approved_or_promoted(recording: Ledger) -> None:
    ledger = recording
    train_flow(str(RELAXED))
    flow_id = kill_gate_after_its_decision(ledger, RELAXED)

    for result in approve_all(ledger, V1):
        assert result.exit_code == 1, result.output
        assert (f"cannot approve credit-scoring:1: the gate run {flow_id} for credit-scoring:1 did not complete "
                "(crashed: no final state recorded); re-run the gate: govflow run gate -c govflow.yaml --version 1"
                in " ".join(result.output.split())), result.output
    promoted = cli(ledger, "promote", V1)
    assert promoted.exit_code == 1, promoted.output
    assert f"the gate run {flow_id} for credit-scoring:1 did not complete" in " ".join(promoted.output.split())
    assert "re-run the gate" in promoted.output

    for args in (("trace", "model", V1), ("trace", "run", flow_id)):
        shown = cli(ledger, *args)
        assert shown.exit_code == 0, shown.output
        assert "crashed: no final state recorded" in shown.output, shown.output
    with ledger.read() as conn:
        assert conn.execute(select(StageChange.stage)).scalars().all() == ["candidate"]

    assert gate_flow(str(RELAXED), "1").outcome == "pass"  # the remedy the message names
    assert all(r.exit_code == 0 for r in approve_all(ledger, V1))
    promoted = cli(ledger, "promote", V1)
    assert promoted.exit_code == 0, promoted.output


def test_a_pass_made_by_a_gate_run_of_another_version_does_not_count(recording: Ledger) -> None:
    ledger = recording
    train_flow(str(RELAXED))
    train_flow(str(RELAXED))
    assert gate_flow(str(RELAXED), "1").outcome == "pass"
    first = decision_of(ledger, V1)
    assert first is not None
    with ledger.read() as conn:
        v2 = registry.resolve(conn, "credit-scoring:2")
    # An insider with the Python API records a pass for version 2 that cites version 1's gate run.
    registry.record_decision(ledger, v2, outcome="pass", reasons=["copied"], policy=RELAXED_POLICY,
                             run_id=first["run_id"])
    with ledger.read() as conn:
        flow_id = conn.execute(select(Run.parent_run_id).where(Run.id == first["run_id"])).scalar_one()
    message = (f"the gate decision for credit-scoring:2 was not made by a gate run of credit-scoring:2 "
               f"(its run {flow_id} gated credit-scoring:1); re-run the gate: govflow run gate -c govflow.yaml --version 2")
    for result in approve_all(ledger, "credit-scoring:2"):
        assert result.exit_code == 1, result.output
        assert message in " ".join(result.output.split()), result.output
    with pytest.raises(ComplianceBlocked) as refused:
        registry.promote(ledger, "credit-scoring:2", by="ci", required_roles=ROLES)
    assert message in str(refused.value)

    # No run at all behind the decision: refused too.
    registry.record_decision(ledger, v2, outcome="pass", reasons=["made up"], policy=RELAXED_POLICY, run_id=None)
    promoted = cli(ledger, "promote", "credit-scoring:2")
    assert promoted.exit_code == 1, promoted.output
    assert ("the gate decision for credit-scoring:2 names no gate run; re-run the gate"
            in " ".join(promoted.output.split())), promoted.output


def test_a_later_block_overrides_an_earlier_pass(recording: Ledger) -> None:
    ledger = recording
    train_flow(str(RELAXED))
    assert gate_flow(str(RELAXED), "1").outcome == "pass"
    assert all(r.exit_code == 0 for r in approve_all(ledger, V1))
    tightened = cli(ledger, "policy", "approve", "-c", str(DEFAULT), "--as", "Ravi Patel", "--role", "risk_officer",
                    "--reason", "back to the documented default")  # the gate applies only the policy in force (#16)
    assert tightened.exit_code == 0, tightened.output
    assert gate_flow(str(DEFAULT), "1").outcome == "block"  # the same version, gated again, blocked
    promoted = cli(ledger, "promote", V1)
    assert promoted.exit_code == 1, promoted.output
    assert "cannot promote credit-scoring:1: missing: the gate blocked credit-scoring:1: fairness: " in promoted.output
    with ledger.read() as conn:
        outcomes = conn.execute(select(Decision.outcome).order_by(Decision.audit_seq)).scalars().all()
    assert outcomes == ["pass", "block"]
