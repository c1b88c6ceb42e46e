"""One recorded step, one audit entry (#14 item 3): what a task writes itself joins its record.

A task that writes its own records (here: stored notes, as the gate's decision, documents and
incident actions are) commits them with its run record under the step's one audit entry; a task
that raises after writing leaves none of it (only its failure, recorded alone), and neither does a
process killed in the middle of the step.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import func, select

from govflow.flows.recording import current_run_id, flow, get_ledger, task
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.runs import add_artifact
from govflow.governance.ledger.schema import Artifact, AuditEntry, Run, RunState
from govflow.governance.ledger.verify import verify

ROOT = Path(__file__).resolve().parents[2]


def store_note(text: str) -> str:
    """Two writes of the step's own, the second reading what the first wrote (read-your-writes)."""
    ledger = get_ledger()
    with ledger.write("note.stored", text) as w:
        first = add_artifact(w, ledger.artifacts, kind="note", name=f"{text}.txt", data=text.encode(),
                             media_type="text/plain", run_id=current_run_id())
    with ledger.read() as conn:
        seen = conn.execute(select(Artifact.name).where(Artifact.id == first["id"])).scalar_one()
    with ledger.write("note.copied", text) as w:
        add_artifact(w, ledger.artifacts, kind="note", name=f"copy of {seen}", data=text.encode() + b"!",
                     media_type="text/plain", run_id=current_run_id())
    return str(first["content_hash"])


@task
def write_note(text: str) -> str:
    return store_note(text)


@task
def write_note_then_fail(text: str) -> str:
    store_note(text)
    raise ValueError(f"failed after writing {text}")


@flow(name="notes")
def notes_flow(texts: list[str]) -> list[str]:
    return [write_note(text) for text in texts]


@flow(name="notes-failing")
def failing_notes_flow(text: str) -> str:
    return write_note_then_fail(text)


def entries(ledger: Ledger) -> int:
    with ledger.read() as conn:
        return int(conn.execute(select(func.count()).select_from(AuditEntry)).scalar_one())


def test_each_step_writes_one_audit_entry_with_everything_it_wrote(recorder: Ledger) -> None:
    before = entries(recorder)
    notes_flow(["first", "second"])
    assert entries(recorder) - before == 4  # the flow's opening and ending, and one entry per task

    with recorder.read() as conn:
        tasks = conn.execute(select(Run.id, Run.audit_seq).where(Run.name == "write_note")).all()
        assert len(tasks) == 2
        for run_id, seq in tasks:
            notes = conn.execute(select(Artifact.name, Artifact.audit_seq).where(Artifact.produced_by_run_id == run_id)).all()
            assert len(notes) == 2 and {s for _, s in notes} == {seq}, notes
            states = conn.execute(select(RunState.state, RunState.audit_seq).where(RunState.run_id == run_id)).all()
            assert sorted(states) == [("completed", seq), ("running", seq)]
            entry = conn.execute(select(AuditEntry.event_type, AuditEntry.subject).where(AuditEntry.seq == seq)).one()
            assert entry == ("task.completed", f"task write_note {run_id}")
    report = verify(recorder)
    assert report.intact, [str(f) for f in report.findings]


def test_a_step_that_raises_after_writing_leaves_nothing_it_wrote(recorder: Ledger) -> None:
    before = entries(recorder)
    with pytest.raises(ValueError, match="failed after writing doomed"):
        failing_notes_flow("doomed")
    assert entries(recorder) - before == 3  # the flow's two and the task's failure: nothing more

    with recorder.read() as conn:
        assert conn.execute(select(Artifact.id).where(Artifact.kind == "note")).all() == []
        run_id, seq = conn.execute(select(Run.id, Run.audit_seq).where(Run.name == "write_note_then_fail")).one()
        states = conn.execute(select(RunState.state).where(RunState.run_id == run_id).order_by(RunState.at)).scalars().all()
        assert states == ["running", "failed"]
        assert conn.execute(select(AuditEntry.event_type).where(AuditEntry.seq == seq)).scalar_one() == "task.failed"
    report = verify(recorder)
    assert report.intact, [str(f) for f in report.findings]


KILLED_STEP = textwrap.dedent("""
    import os, signal, sys
    from govflow.flows import recording
    from govflow.governance.ledger.engine import Ledger
    from tests.flows.test_one_entry_per_step import store_note

    @recording.task
    def write_and_die(text: str) -> None:
        store_note(text)
        print("written", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    recording.set_ledger(Ledger.open(sys.argv[1], sys.argv[2]))
    write_and_die.fn("killed")  # the recorded function itself, without a Prefect run
""")


def test_a_step_killed_after_writing_leaves_nothing_of_it(sqlite_ledger: Ledger) -> None:
    before = entries(sqlite_ledger)
    url = sqlite_ledger.engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", KILLED_STEP, url, str(sqlite_ledger.home)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert "written" in done.stdout  # the kill came after the step's own writes

    assert entries(sqlite_ledger) == before
    with sqlite_ledger.read() as conn:
        assert conn.execute(select(Artifact.id).where(Artifact.kind == "note")).all() == []
        assert conn.execute(select(Run.id).where(Run.name == "write_and_die")).all() == []
    report = verify(sqlite_ledger)
    assert report.intact, [str(f) for f in report.findings]
