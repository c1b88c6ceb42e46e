"""The warm gate runner: ``python -m govflow.cli.warm_runner HOME`` (`govflow.prefect_runner` starts it).

It imports what a gate needs once, registers the gate flow (`govflow.flows.gate.gate_run`) as a Prefect
deployment on the home's reused server, and then runs each flow run created from it with Prefect's own
engine (`prefect.flow_engine.run_flow`), one at a time, in this process: the run's record, documents,
anchoring and Prefect state are those of a gate run in the command's own process. It looks for runs
when `govflow.cli.warm` wakes it (SIGUSR1) and every few seconds, writes each run's report (or the error
it raised) to ``<home>/warm-runs/<flow run id>.json`` for the waiting command, and ends on SIGTERM or
once the server is gone.

A run cancelled while it runs (Cancelling on the server: an interrupted `run gate`, or Cancel in the
Prefect UI) is stopped: a thread watching the run's state raises `GateCancelled` in the main thread (SIGUSR2),
at the step it has reached; each step's ledger transaction is committed whole or rolled back, the gate's
run is recorded as failed (so no decision of it counts, `govflow.governance.registry.gate_runs`), and
the run ends Cancelled in Prefect. The result file then says what the ledger holds of it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sys
import threading
import time
import traceback
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from govflow.cli.context import Context
from govflow.cli.warm import RESULTS
from govflow.errors import GovflowError

DEPLOYMENT = "govflow-warm-gate"
POLL_SECONDS = 5.0
CANCEL_POLL_SECONDS = 1.0  # how often the state of the run being served is read (a cancel from the UI)
SERVER_MISSES = 3  # polls in a row without an answer from the server before the runner ends
RESULTS_KEPT_SECONDS = 3600.0  # a result no command came for (it was killed) is removed after this

wake = threading.Event()
stopping = threading.Event()
check_cancel = threading.Event()
armed = threading.Event()  # set only while a flow run is inside Prefect's engine: the one place it may be stopped


class GateCancelled(BaseException):
    """The flow run being served was cancelled. A BaseException, like KeyboardInterrupt: the gate turns any
    `Exception` of a check into a block (fail closed), and a cancel is not a check's failure."""


def _cancel_now(*_: Any) -> None:
    if armed.is_set():
        armed.clear()
        raise GateCancelled()


def _wake(*_: Any) -> None:
    wake.set()
    check_cancel.set()


def warm_up() -> None:
    """Import what a gate imports lazily, and build a Great Expectations context once (its first is slow)."""
    import fairlearn.metrics  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import sklearn.metrics  # noqa: F401
    from prefect.artifacts import create_markdown_artifact  # noqa: F401

    from govflow.checks import validation
    from govflow.flows import anchor_prefect, anchoring, lineage  # noqa: F401
    from govflow.governance.reports.documents import store  # noqa: F401

    validation._context()


def main(home: Path) -> int:
    from govflow import prefect_runner, settings

    db = os.environ.get("GOVFLOW_DB_URL")
    settings.configure(home)  # PREFECT_API_URL is the server's: set by whoever started this runner
    from prefect import get_client

    from govflow.flows.gate import gate_run

    warm_up()
    deployment: Any = gate_run.to_deployment(name=DEPLOYMENT, tags=["govflow", "gate"])
    deployment_id: Any = deployment.apply()
    api_url = os.environ["PREFECT_API_URL"]
    from govflow.cli import run  # noqa: F401 - what serving a run imports, in the stamp
    from govflow.flows.anchoring import AnchorOnExit  # noqa: F401

    state = _record(home, prefect_runner.RunnerState(pid=os.getpid(), api_url=api_url, started_at=time.time(), code_stamp="",
                                             env_stamp=prefect_runner.env_stamp(None), deployment_id=str(deployment_id)))
    signal.signal(signal.SIGUSR1, _wake)
    signal.signal(signal.SIGUSR2, _cancel_now)
    signal.signal(signal.SIGTERM, _stop)
    print(f"{_now()} ready: deployment {deployment_id} on {api_url}", flush=True)
    misses = 0
    shared: dict[str, Any] = {}
    with get_client(sync_client=True) as client:
        while not stopping.is_set() and misses < SERVER_MISSES:
            wake.clear()
            try:
                runs = client.get_scheduled_flow_runs_for_deployments([deployment_id], scheduled_before=datetime.now(UTC))
                misses = 0
            except Exception as e:  # noqa: BLE001 - the server is down or busy: counted, then this runner ends
                misses += 1
                print(f"{_now()} the server did not answer ({type(e).__name__}: {e})", flush=True)
                runs = []
            for flow_run in sorted(runs, key=lambda r: r.expected_start_time or r.created or datetime.now(UTC)):
                if stopping.is_set():
                    break
                if _claim(client, flow_run.id):
                    _serve_one(home, db, flow_run, shared, client)
                    if set(prefect_runner.loaded_files()) - set(state.code_files):  # a run imported more
                        state = _record(home, state)
            wake.wait(POLL_SECONDS)
    print(f"{_now()} ending ({'stopped' if stopping.is_set() else 'the server is gone'})", flush=True)
    recorded = prefect_runner.read_state(home)
    if recorded is not None and recorded.pid == os.getpid():
        (home / prefect_runner.STATE_FILE).unlink(missing_ok=True)
    return 0


def _stop(*_: Any) -> None:
    stopping.set()
    wake.set()


def _record(home: Path, state: Any) -> Any:
    """Write ``state`` with the source files of every govflow module imported so far, and their stamp."""
    from dataclasses import replace

    from govflow import prefect_runner

    files = prefect_runner.loaded_files()
    state = replace(state, code_files=files, code_stamp=prefect_runner.code_stamp(files))
    prefect_runner.write_state(home, state)
    return state


def _claim(client: Any, flow_run_id: Any) -> bool:
    """Pending, as Prefect's own runner proposes it: False when the server gave the run to someone else."""
    from prefect.states import Pending
    from prefect.utilities.engine import propose_state_sync

    try:
        return bool(propose_state_sync(client, Pending(), flow_run_id=flow_run_id).is_pending())
    except Exception as e:  # noqa: BLE001 - an aborted or rejected claim: not ours to run
        print(f"{_now()} flow run {flow_run_id} not claimed: {type(e).__name__}: {e}", flush=True)
        return False


def _serve_one(home: Path, db: str | None, run: Any, shared: dict[str, Any], client: Any) -> None:
    """Run one gate flow run as `govflow run gate` runs it in its own process, and write what it printed."""
    from govflow.cli.run import prepare_context
    from govflow.flows.anchoring import AnchorOnExit, head_or_none

    context = Context(db=db, home=home)
    captured = io.StringIO()
    result: dict[str, Any]
    error: BaseException | None = None
    with contextlib.redirect_stderr(captured):
        try:
            if "ledger" in shared:  # one ledger for the runner's life; its head as this run starts
                context._ledger = shared["ledger"]
                context.opened_head = head_or_none(shared["ledger"])
            prepare_context(context, Path(run.parameters["config_path"]))
            shared["ledger"] = context._ledger
            result = {"report": _run_watched(run, os.environ["PREFECT_API_URL"])}
        except GateCancelled as e:
            error, result = e, _cancelled(context, run, shared, client)
        except GovflowError as e:
            error, result = e, {"error": str(e), "exit_code": e.exit_code}
        except Exception as e:  # noqa: BLE001 - reported to the command as its own process would report it
            error, result = e, {"internal": _internal(home, e)}
        try:
            AnchorOnExit(context).__exit__(type(error) if error else None, error, None)
        except GovflowError as e:
            result = {"error": str(e), "exit_code": e.exit_code}
    result["stderr"] = captured.getvalue()
    _write_result(home, str(run.id), result)
    print(f"{_now()} flow run {run.id}: {_summary(result)}", flush=True)


def _run_watched(run: Any, api_url: str) -> dict[str, Any]:
    """The gate's report; `GateCancelled` raised here when the run is cancelled while Prefect's engine runs it."""
    from prefect.flow_engine import run_flow

    from govflow.flows.gate import gate_run, outcome_of

    done = threading.Event()
    watcher = threading.Thread(target=_watch, args=(api_url, str(run.id), done, threading.main_thread().ident),
                               daemon=True, name="govflow-cancel-watch")
    check_cancel.clear()
    armed.set()
    watcher.start()
    try:
        state: Any = run_flow(gate_run, flow_run=run, parameters=run.parameters, return_type="state")
    finally:
        armed.clear()
        done.set()
    return dict(outcome_of(state).report())


def _watch(api_url: str, run_id: str, done: threading.Event, main: int | None) -> None:
    """Read the run's state every second (at once when woken) until ``done``; when it is being cancelled,
    stop the main thread (SIGUSR2: `_cancel_now` raises `GateCancelled` there, if the run is still in it)."""
    while not done.is_set():
        check_cancel.wait(CANCEL_POLL_SECONDS)
        check_cancel.clear()
        if done.is_set() or main is None:
            return
        if _state_type(api_url, run_id) in ("CANCELLING", "CANCELLED"):
            signal.pthread_kill(main, signal.SIGUSR2)
            return


def _state_type(api_url: str, run_id: str) -> str | None:
    try:
        with urllib.request.urlopen(f"{api_url}/flow_runs/{run_id}", timeout=10) as response:
            return str(json.loads(response.read())["state"]["type"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # the server did not answer this time: read again at the next poll


def _cancelled(context: Context, run: Any, shared: dict[str, Any], client: Any) -> dict[str, Any]:
    """The run ends Cancelled in Prefect; the result says what the ledger holds of it. The ledger the run
    was stopped in is closed (a fresh one for the next run)."""
    from prefect.states import Cancelled
    from prefect.utilities.engine import propose_state_sync

    with contextlib.suppress(Exception):
        propose_state_sync(client, Cancelled(message="cancelled: govflow's warm runner stopped it"),
                           flow_run_id=run.id, force=True)
    stopped, opened = shared.pop("ledger", None), context.opened_head
    if stopped is not None:
        stopped.close()
    context._ledger = None
    recorded = recorded_state(context.ledger(), str(run.id))
    context.opened_head = opened  # what the run wrote before it was stopped is anchored as usual
    return {"cancelled": recorded}


def recorded_state(ledger: Any, prefect_run_id: str) -> str:
    """The ledger's last state of the gate flow run Prefect knows as ``prefect_run_id``: ``completed``,
    ``failed``, ``running`` (no final state), or ``none`` (nothing of it recorded)."""
    from sqlalchemy import select

    from govflow.governance.ledger.chained import chained
    from govflow.governance.ledger.schema import Run
    from govflow.governance.registry.gate_runs import final_state

    with ledger.read() as conn:
        run_id = conn.execute(select(Run.id).where(Run.prefect_run_id == prefect_run_id, Run.kind == "flow",
                                                   chained(Run))).scalar()
        state = final_state(conn, run_id)[0] if run_id else "none"
    return state or "running"


def _internal(home: Path, error: Exception) -> str:
    """`govflow.cli.main`'s line for an internal error, its traceback appended to ``<home>/govflow.log``."""
    log = home / "govflow.log"
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(f"{_now()} internal error\n{traceback.format_exc()}\n")
    reason = (str(error).strip().splitlines() or [""])[0]
    return f"internal error: {type(error).__name__}: {reason} (traceback in {log})"


def _write_result(home: Path, run_id: str, result: dict[str, Any]) -> None:
    folder = home / RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{run_id}.tmp"
    tmp.write_text(json.dumps(result, ensure_ascii=False, default=str))
    tmp.replace(folder / f"{run_id}.json")  # whole or absent for the waiting command
    for old in folder.glob("*.json"):
        with contextlib.suppress(OSError):
            if time.time() - old.stat().st_mtime > RESULTS_KEPT_SECONDS:
                old.unlink()


def _summary(result: dict[str, Any]) -> str:
    if "report" in result:
        return f"gate {result['report']['outcome']} for {result['report']['version']}"
    if "cancelled" in result:
        return f"cancelled (the ledger's state of its gate run: {result['cancelled']})"
    return str(result.get("error") or result.get("internal"))


def _now() -> str:
    return datetime.now(UTC).isoformat()


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
