"""`run gate` through the home's warm runner (`govflow.prefect_runner`), when one runs what this command would.

The command creates a flow run of the runner's gate deployment through the Prefect server's REST API,
wakes the runner (SIGUSR1), and waits for the file the runner writes when the run ended
(``<home>/warm-runs/<flow run id>.json``): the report `run gate` prints, or the error the gate raised,
with the exit code it means. No Prefect, pandas or check library is imported here: that is the point.
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import typer

from govflow.cli.context import Context
from govflow.errors import GovflowError

RESULTS = "warm-runs"
ENDED = ("the warm gate runner of {home} (pid {pid}) ended before the gate run {run} finished; its log is "
         "{log}. Run the command again: without a runner it runs the gate in its own process")


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
    try:
        os.kill(runner.pid, signal.SIGUSR1)  # at once, not at its next poll
    except OSError:
        pass
    return _outcome(_wait(home, runner, run_id))


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


def _outcome(data: dict[str, Any]) -> dict[str, Any]:
    if data.get("stderr"):
        typer.echo(data["stderr"], err=True, nl=False)
    if "report" in data:
        return dict(data["report"])
    if "internal" in data:  # as `govflow.cli.main` words an internal error
        typer.echo(data["internal"], err=True)
        raise typer.Exit(3)
    raise RunnerReported(str(data["error"]), int(data["exit_code"]))
