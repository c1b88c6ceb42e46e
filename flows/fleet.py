"""Fleet monitoring: many AI systems monitored at once, fanned out over Prefect's Dask task runner.

``govflow run fleet -c a.yaml -c b.yaml ...`` runs one recorded task per system (`monitor_one`,
the whole of `govflow.flows.monitor_system.monitor_system` for that system) on a Dask cluster: a local cluster of
``--workers`` processes here; in production, the scheduler at ``--scheduler`` or
``GOVFLOW_DASK_SCHEDULER`` (e.g. ``tcp://dask-scheduler:8786``), whose workers must run this code
base with ``GOVFLOW_DB_URL`` (a shared PostgreSQL ledger) and ``GOVFLOW_HOME`` (a shared artifact
path) set. Each task writes its own record, its check results and any incident to the ledger from
the worker; its parameters name the fleet run (``fleet_run_id``) that fanned it out.

One system's monitoring judges every version that served in its windows, so its check results are
linked each to the version it judged (the ``model_version_id`` column of ``check_results``, as the
monitoring flow links its own through `govflow.flows.recording.link_model_version`): the task returns them
as `govflow.governance.ledger.runs.JudgedCheck` values, which the task recorder writes with its run, in the same
transaction. `govflow trace model` shows them.

A local cluster inherits this process's environment, so the ledger in use is passed through it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from govflow.errors import InputError
from govflow.flows.recording import current_run_id, flow, get_ledger, task
from govflow.governance.config import load_config
from govflow.governance.ledger.runs import JudgedCheck

SCHEDULER_ENV = "GOVFLOW_DASK_SCHEDULER"


@dataclass(frozen=True)
class SystemMonitoring:
    """One system's monitoring in the fleet: a summary, and every check result with the version it judged."""

    summary: dict[str, Any]
    results: tuple[JudgedCheck, ...]  #: recorded with the task, each linked to its model version

    def to_dict(self) -> dict[str, Any]:
        return self.summary


def _monitor_one(config_path: str, window: str | None, last: int | None, fleet_run_id: str | None) -> SystemMonitoring:
    """Monitor one system (all its windows and versions) on a Dask worker."""
    from govflow.flows.monitor_system import monitor_system

    config = load_config(config_path)
    outcome = monitor_system(get_ledger(), config, str(Path(config_path).absolute()), window, last,
                             open_incident=True, run_id=current_run_id())
    results = tuple(JudgedCheck(r, report.model_version_id)
                    for report in outcome.reports for suite in report.suites for r in suite.results)
    counts: dict[str, int] = {}
    for judged in results:
        counts[judged.model_version_id] = counts.get(judged.model_version_id, 0) + 1
    summary = {"system": outcome.system, "windows": len({r.window for r in outcome.reports}),
               "decisions": sum(r.rows for r in outcome.reports), "alerts": [a.to_dict() for a in outcome.alerts],
               "incident": outcome.incident, "worker_pid": os.getpid(), "fleet_run_id": fleet_run_id,
               "check_results": counts, "policy": outcome.policy}
    return SystemMonitoring(summary, results)


# Dask ships a task (and the flow run it belongs to) to its workers by reference: by module and name.
# govflow's recording wrapper carries the plain function's name, so that name must lead to the wrapper,
# or the wrapper would be pickled by value, with the recorder's context variables, which cannot be.
monitor_one = task(_monitor_one, name="monitor_one")
_monitor_one = monitor_one.fn


def _fleet_flow(config_paths: list[str], window: str | None = None, last: int | None = 1) -> list[dict[str, Any]]:
    """Fan `monitor_one` out over the task runner (Dask when run through `run_fleet`)."""
    from prefect import unmapped

    futures = monitor_one.map(config_paths, window=unmapped(window), last=unmapped(last),
                              fleet_run_id=unmapped(current_run_id()))
    return [f.result().summary for f in futures]


fleet_flow = flow(_fleet_flow, name="fleet-monitor")
_fleet_flow = fleet_flow.fn  # shipped with each task's context: the same by-reference rule as `_monitor_one`


def task_runner(scheduler: str | None = None, workers: int = 2) -> Any:
    """A `DaskTaskRunner`: on the given (or ``GOVFLOW_DASK_SCHEDULER``) scheduler, else a local cluster."""
    from prefect_dask import DaskTaskRunner

    address = scheduler or os.environ.get(SCHEDULER_ENV)
    if address:
        return DaskTaskRunner(address=address)
    logging.getLogger("distributed").setLevel(logging.ERROR)  # the cluster's start and stop are not news
    return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True,
                                          "dashboard_address": None, "silence_logs": logging.ERROR})


def run_fleet(config_paths: list[str], *, window: str | None = None, last: int | None = 1, scheduler: str | None = None,
              workers: int = 2, db_url: str | None = None) -> list[dict[str, Any]]:
    """Monitor every system; the ledger in use is handed to local workers through the environment.

    The variables are set while the cluster starts and runs, and restored afterwards.
    """
    ledger = get_ledger()
    wanted = {"GOVFLOW_HOME": str(ledger.home)}
    if db_url:
        wanted["GOVFLOW_DB_URL"] = db_url
    elif ledger.is_sqlite:
        wanted["GOVFLOW_DB_URL"] = ledger.engine.url.render_as_string(hide_password=False)
    elif "GOVFLOW_DB_URL" not in os.environ:
        raise InputError("fleet monitoring on PostgreSQL needs the ledger URL for its workers: pass --db URL "
                         "(or set GOVFLOW_DB_URL)")
    saved = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    try:
        runner = task_runner(scheduler, workers)
        paths = [str(Path(p).absolute()) for p in config_paths]
        return list(fleet_flow.with_options(task_runner=runner)(paths, window, last))
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
