"""`run gate` through the home's warm runner (`govflow.prefect_runner`), when one runs what this command would.

The command creates a flow run of the runner's gate deployment through the Prefect server's REST API,
wakes the runner (SIGUSR1), and waits for the file the runner writes when the run ended
(``<home>/warm-runs/<flow run id>.json``): the report `run gate` prints, or the error the gate raised,
with the exit code it means. No Prefect, pandas or check library is imported here: that is the point.

Interrupted (Ctrl-C, SIGTERM) while it waits, the command asks the server to cancel its flow run (the
runner stops it: `govflow.cli.warm_runner`), waits a little for the runner to say what the ledger holds
of it, prints that in one line and exits 128 + the signal's number. Killed (``kill -9``), it cannot
act: the runner finishes the run and records the gate whole, as if the command were still waiting.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from govflow.cli.context import Context
from govflow.errors import GovflowError

RESULTS = "warm-runs"
ENDED = ("the warm gate runner of {home} (pid {pid}) ended before the gate run {run} finished; its log is "
         "{log}. Run the command again: without a runner it runs the gate in its own process")
CANCEL_WAIT_SECONDS = 30.0
SIGNAL_NAMES = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}
TRACE = "govflow trace run {run} shows what the ledger holds of it"
CANCELLED = {  # by what the ledger holds of the cancelled run (`govflow.cli.warm_runner.recorded_state`)
    "none": "interrupted ({why}): the warm runner cancelled the gate run {run} before it recorded anything",
    "completed": "interrupted ({why}) as the gate run {run} completed in the warm runner: its decision is "
                 "recorded whole and counts; " + TRACE,
}
CANCELLED_PART = ("interrupted ({why}): the warm runner cancelled the gate run {run}; the ledger records it as "
                  "{state}, so no decision of it counts (" + TRACE + "); run the gate again")
NOT_STARTED = "interrupted ({why}): cancelled the gate run {run} before the warm runner started it; nothing was recorded"
ENDED_FIRST = "interrupted ({why}) after the gate run {run} ended in the warm runner: {what}; " + TRACE
NO_ANSWER = ("interrupted ({why}): asked the warm runner (pid {pid}) to cancel the gate run {run}; it did not "
             "answer within {wait:.0f} s (its log: {log}); " + TRACE)
CANCELLED_ELSEWHERE = ("the gate run {run} was cancelled while it ran (from the Prefect UI or its API); the ledger "
                      "records it as {state}, so no decision of it counts; run the gate again")
IN_PROCESS = ("interrupted ({why}): the gate stopped before it finished; a gate run that did not complete is "
              "recorded as such and no decision of it counts; run the gate again")


class Interrupted(BaseException):
    """SIGINT or SIGTERM while a gate runs. A BaseException, like KeyboardInterrupt: the gate turns any
    `Exception` of a check into a block (fail closed), and an interrupt is not a check's failure."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.why = SIGNAL_NAMES.get(signal.Signals(signum), signal.Signals(signum).name)
        self.exit_code = 128 + signum


@contextlib.contextmanager
def interrupts() -> Iterator[None]:
    """SIGINT and SIGTERM raise `Interrupted` in this (the main) thread while inside."""
    def interrupted(signum: int, _frame: Any) -> None:
        raise Interrupted(signum)

    previous = {sig: signal.signal(sig, interrupted) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class RunnerReported(GovflowError):
    """An error the gate raised in the warm runner, with the exit code it has in the command's own process."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def runner_for(context: Context) -> Any:
    """The home's warm runner (`govflow.prefect_runner.RunnerState`) if this command may use it, else None:
    the reused local server mode, not ``--verbose`` (the libraries' lines come from the command's own process)."""
    from govflow import prefect_runner, prefect_server, settings

    if settings.verbose() or os.environ.get(prefect_server.MODE_ENV, "server").strip().lower() != "server":
        return None
    server = prefect_server.read_state(context.home)
    if server is None or os.environ.get("PREFECT_API_URL", server.api_url) != server.api_url:
        return None  # the user's own Prefect API, or `govflow ui`'s: not the runner's server
    return prefect_runner.usable(context.home, server.api_url, context.db)


def gate(home: Path, runner: Any, config: Path, version: str) -> dict[str, Any] | None:
    """The gate's report from the warm runner; None when its server takes no flow run (run it here then)."""
    body = json.dumps({"parameters": {"config_path": str(config.absolute()), "version": version}}).encode()
    request = urllib.request.Request(f"{runner.api_url}/deployments/{runner.deployment_id}/create_flow_run",
                                     data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            run_id = str(json.loads(response.read())["id"])
    except (OSError, ValueError, KeyError):
        return None  # nothing was created: the command runs the gate itself
    _wake(runner)
    try:
        data = _wait(home, runner, run_id)
    except Interrupted as e:
        typer.echo(_cancel(home, runner, run_id, e.why), err=True)
        raise typer.Exit(e.exit_code) from None
    return _outcome(data, run_id)


def _wake(runner: Any) -> None:
    with contextlib.suppress(OSError):
        os.kill(runner.pid, signal.SIGUSR1)  # at once, not at its next poll


def _cancel(home: Path, runner: Any, run_id: str, why: str) -> str:
    """Cancel the flow run through the server's API and say what became of it (one line)."""
    from govflow import prefect_runner

    state = _api(runner.api_url, f"flow_runs/{run_id}")
    was = str(state["state"]["type"]) if state else ""
    if was == "SCHEDULED" and _set_state(runner.api_url, run_id, "CANCELLED"):
        return NOT_STARTED.format(why=why, run=run_id)  # the runner claims only scheduled runs
    if was not in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
        _set_state(runner.api_url, run_id, "CANCELLING")
        _wake(runner)
    result = home / RESULTS / f"{run_id}.json"
    deadline = time.monotonic() + CANCEL_WAIT_SECONDS
    with contextlib.suppress(Interrupted):  # a second Ctrl-C stops the waiting, not the cancel
        while not result.exists() and time.monotonic() < deadline and prefect_runner.alive(runner.pid):
            time.sleep(0.05)
    try:
        data: dict[str, Any] = json.loads(result.read_text())
        result.unlink(missing_ok=True)
    except (OSError, ValueError):
        return NO_ANSWER.format(why=why, pid=runner.pid, run=run_id, wait=CANCEL_WAIT_SECONDS,
                                log=home / prefect_runner.LOG_FILE)
    if "cancelled" in data:
        recorded = str(data["cancelled"])
        return CANCELLED.get(recorded, CANCELLED_PART).format(why=why, run=run_id, state=recorded)
    what = (f"gate {data['report']['outcome'].upper()} for {data['report']['version']}, recorded whole"
            if "report" in data else str(data.get("error") or data.get("internal")))
    return ENDED_FIRST.format(why=why, run=run_id, what=what)


def _api(api_url: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The server's JSON answer to GET ``path`` (POST ``body``), None when it does not answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{api_url}/{path}", data=data, method="GET" if body is None else "POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return dict(json.loads(response.read()))
    except (OSError, ValueError):
        return None


def _set_state(api_url: str, run_id: str, state: str) -> bool:
    """Propose ``state`` for the flow run (as the Prefect UI's Cancel does); True when the server accepted it."""
    answer = _api(api_url, f"flow_runs/{run_id}/set_state",
                  {"state": {"type": state, "message": "govflow run gate was interrupted"}, "force": False})
    return answer is not None and answer.get("status") == "ACCEPT"


def _wait(home: Path, runner: Any, run_id: str) -> dict[str, Any]:
    from govflow import prefect_runner

    result = home / RESULTS / f"{run_id}.json"
    checked = time.monotonic()
    while True:
        try:
            data: dict[str, Any] = json.loads(result.read_text())
            result.unlink(missing_ok=True)
            return data
        except FileNotFoundError:
            pass
        if time.monotonic() - checked > 1.0:
            checked = time.monotonic()
            if not prefect_runner.alive(runner.pid) and not result.exists():
                raise RunnerReported(ENDED.format(home=home, pid=runner.pid, run=run_id,
                                                  log=home / prefect_runner.LOG_FILE), 3)
        time.sleep(0.02)


def _outcome(data: dict[str, Any], run_id: str) -> dict[str, Any]:
    if data.get("stderr"):
        typer.echo(data["stderr"], err=True, nl=False)
    if "report" in data:
        return dict(data["report"])
    if "cancelled" in data:  # not by this command: it would have been interrupted
        raise RunnerReported(CANCELLED_ELSEWHERE.format(run=run_id, state=data["cancelled"]), 1)
    if "internal" in data:  # as `govflow.cli.main` words an internal error
        typer.echo(data["internal"], err=True)
        raise typer.Exit(3)
    raise RunnerReported(str(data["error"]), int(data["exit_code"]))
