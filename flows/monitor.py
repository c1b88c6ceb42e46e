"""The monitoring flow: what a system's logged predictions show, window by window, against its policy.

For each window of ``served_at`` (`govflow.governance.monitoring.results`; ``--window 7d`` or the config's
``monitoring.window``) and each model version that served in it:

* **data drift** of the production inputs (the features the model sees) against the version's
  training reference split, and **prediction drift** of the served scores against the scores the
  same model gives that reference (one Evidently run, `govflow.checks.drift.assess_drift`);
* once outcomes have arrived (`govflow outcomes`): **performance**, overall and per group, and
  **fairness** per sensitive feature (`govflow.checks.performance`, `govflow.checks.fairness`) on the predictions
  that have one;
* the decisions per sensitive group (no labels needed), for the record and the impact of an incident.

Every window is judged by the policy in force for the system (the ledger record of
`govflow.governance.registry.policy_in_force`), not by the ``policy:`` of the config file: a bound
edited in the file applies only once the policy's owning role puts it in force (``govflow policy
approve``), as at the gate. When the file's policy differs, monitoring says so (a warning in its
output, its log and its Prefect artifact) and still judges by the policy in force; only a system with
no policy in force yet is judged by its file's. Every result carries the hash of the policy it applied.

Every check is a recorded task, linked to the version it judged, its results tagged with the window.
A failed critical result is an alert: the flow opens an incident (`govflow.governance.monitoring.incidents`; a fairness
alert is a ``fundamental_rights`` incident, any other a ``malfunction``), or adds the alert to the
open incident that already implicates that version, and emits the Prefect event
``govflow.monitoring.alert`` (resource ``govflow.incident.<id>``, labels ``govflow.system``,
``govflow.incident``, ``govflow.version``, ``govflow.config``) that triggers the incident response
deployment (deployments/prefect.yaml). ``govflow run monitor`` exits 1 when an alert fired.

This module holds the recorded tasks and flows; the checks and the alerts they raise are plain
functions in `govflow.flows.monitor_checks`, the ledger side (references, configs, incidents) and the
one-process run in `govflow.flows.monitor_system`. What a task writes itself (a drift report, an
incident) lands with its record, under one audit entry.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from govflow.checks.results import SuiteResult
from govflow.errors import InputError
from govflow.flows import steps
from govflow.flows.monitor_checks import (  # noqa: F401 - the names monitoring had before the split
    ALERT_EVENT,
    ALERT_KIND,
    Alert,
    MonitorOutcome,
    WindowReport,
    alerts_of,
    decisions_by_group,
    enough_outcomes,
    implicated,
    incident_kind,
    input_drift,
    outcome_fairness,
    outcome_performance,
    reference_with_scores,
    run_checks,
    summary_of,
    tag,
    window_report,
)
from govflow.flows.monitor_system import (  # noqa: F401 - the names monitoring had before the split
    emit_alert,
    judged_policy,
    load_reference,
    monitor_system,
    open_or_update_incident,
    version_config,
    version_labels,
)
from govflow.flows.recording import current_run_id, flow, get_ledger, label_run, link_model_version, task
from govflow.governance.config import GovflowConfig
from govflow.governance.monitoring import results as mon

# -- recorded tasks ----------------------------------------------------------------------------

@task
def plan_windows(system: str, window: str, last: int | None) -> list[dict[str, Any]]:
    """The windows of ``served_at`` that hold predictions of the system."""
    ledger = get_ledger()
    with ledger.read() as conn:
        return [w.to_dict() for w in mon.windows_for(conn, system, mon.parse_window(window), last)]


def _window(data: dict[str, Any]) -> mon.Window:
    from datetime import datetime

    return mon.Window(datetime.fromisoformat(data["start"].replace("Z", "+00:00")),
                      datetime.fromisoformat(data["end"].replace("Z", "+00:00")), bool(data["complete"]))


@task
def policy_to_judge_by(config: GovflowConfig, config_file: str) -> dict[str, Any]:
    """The policy in force for the system (the ledger record), which monitoring judges by, and whether
    the config's policy differs from it (`govflow.flows.monitor_system.judged_policy`)."""
    judged = judged_policy(get_ledger(), config, config_file)
    return {**judged.to_dict(), "policy": dict(judged.policy)}


@task
def load_window_predictions(system: str, window: dict[str, Any]) -> pd.DataFrame:
    """The window's logged predictions with their features, sensitive attributes and outcomes."""
    with get_ledger().read() as conn:
        return mon.load_window(conn, system, _window(window))


@task
def load_scored_reference(config: GovflowConfig, model_version_id: str) -> pd.DataFrame:
    """The version's training reference split, scored by that version."""
    return load_reference(get_ledger(), config, model_version_id)


@task
def assess_input_drift(config: GovflowConfig, reference: pd.DataFrame, current: pd.DataFrame,
                       window: dict[str, Any], version: str, model_version_id: str,
                       policy_hash: str | None = None) -> SuiteResult:
    """Data drift of the production inputs and prediction drift of the scores vs the training reference."""
    suite = input_drift(config, reference, current)
    if not suite.passed:  # keep Evidently's report of a window that alerts (made only then: it is slow)
        suite = input_drift(config, reference, current, report=True)
        _store_report(tag(suite, _window(window), version, model_version_id, policy_hash), model_version_id)
    return tag(suite, _window(window), version, model_version_id, policy_hash)


@task
def assess_outcome_performance(config: GovflowConfig, current: pd.DataFrame, window: dict[str, Any], version: str,
                               model_version_id: str, policy_hash: str | None = None) -> SuiteResult:
    """Performance on the window's predictions that have an outcome, overall and per group."""
    return tag(outcome_performance(config, current), _window(window), version, model_version_id, policy_hash)


@task
def assess_outcome_fairness(config: GovflowConfig, current: pd.DataFrame, window: dict[str, Any], version: str,
                            model_version_id: str, policy_hash: str | None = None) -> SuiteResult:
    """Between-group disparities of the window's decisions that have an outcome."""
    return tag(outcome_fairness(config, current), _window(window), version, model_version_id, policy_hash)


@task
def raise_alerts(config: GovflowConfig, config_file: str, alerts: list[dict[str, Any]],
                 policy: dict[str, Any] | None = None) -> dict[str, Any]:
    """Open (or add to) the incident for the alerts, citing the policy they were judged by, and emit
    ``govflow.monitoring.alert``."""
    found = [Alert(a["check"], a["version"], a["model_version_id"], a["window"], tuple(a["findings"])) for a in alerts]
    return open_or_update_incident(get_ledger(), config, config_file, found, current_run_id(), policy)


def _store_report(suite: SuiteResult, model_version_id: str) -> None:
    """Keep Evidently's HTML report of a window whose drift check failed (about 4 MB each): titled, headed
    and stored as a document of the version (`govflow.governance.reports.documents.drift_report`)."""
    from govflow.governance.reports.documents import drift_report

    drift_report.store_suite(get_ledger(), suite, model_version_id, current_run_id())


@flow(name="monitor")
def monitor_flow(config_path: str, window: str | None = None, last: int | None = None,
                 open_incident: bool = True) -> MonitorOutcome:
    """Monitor the system of ``config_path`` over its logged predictions, window by window."""
    config = steps.load_system_config(Path(config_path).absolute())
    size_text = window or config.monitoring.window
    mon.parse_window(size_text)  # a bad window is an input error before anything runs
    system = config.system.name
    label_run(f"monitor {system} ({size_text} windows)", system)
    ledger = get_ledger()
    judged = policy_to_judge_by(config, str(Path(config_path).absolute()))
    policy, policy_hash = judged.pop("policy"), judged["policy_hash"]
    planned = plan_windows(system, size_text, last)
    references: dict[str, pd.DataFrame] = {}
    configs: dict[str, GovflowConfig] = {}
    reports: list[WindowReport] = []
    for data in planned:
        frame = load_window_predictions(system, data)
        labels = version_labels(ledger, sorted(frame["model_version_id"].unique()))
        for mv_id, rows in frame.groupby("model_version_id", sort=True):
            rows = rows.reset_index(drop=True)
            rows.attrs["govflow:name"] = f"predictions of {labels[mv_id]} in {_window(data).label}"
            link_model_version(mv_id)
            if mv_id not in references:
                configs[mv_id] = version_config(ledger, config, mv_id, policy)
                references[mv_id] = load_scored_reference(configs[mv_id], mv_id)
            vcfg = configs[mv_id]
            report = window_report(vcfg, _window(data), labels[mv_id], mv_id, rows)
            suites = [assess_input_drift(vcfg, references[mv_id], rows, data, labels[mv_id], mv_id, policy_hash)]
            not_judged = []
            reason = enough_outcomes(vcfg, rows)
            if reason is None:
                for check in (assess_outcome_performance, assess_outcome_fairness):
                    try:
                        suites.append(check(vcfg, rows, data, labels[mv_id], mv_id, policy_hash))
                    except InputError as e:
                        not_judged.append(f"{check.name}: {e}")
            else:
                not_judged.append(reason)
            reports.append(replace(report, suites=tuple(suites), not_judged=tuple(not_judged)))
    alerts = [a for r in reports for a in alerts_of(r)]
    incident = None
    if alerts and open_incident:
        incident = raise_alerts(config, str(Path(config_path).absolute()), [a.to_dict() for a in alerts], judged)
    outcome = MonitorOutcome(system=system, window=size_text, reports=tuple(reports), alerts=tuple(alerts),
                             incident=incident, notes=() if planned else (f"no predictions logged for {system} yet",),
                             policy=judged)
    _publish(outcome)
    return outcome


def _publish(outcome: MonitorOutcome) -> None:
    """A Prefect artifact for the UI's run history (a view; the ledger holds the record)."""
    from prefect.artifacts import create_markdown_artifact

    lines = [f"# Monitoring of {outcome.system} (window {outcome.window})", ""]
    if outcome.policy:
        lines += [f"Judged by {outcome.policy['cited']}.", ""]
        if outcome.policy.get("warning"):
            lines += [f"**Warning:** {outcome.policy['warning']}", ""]
    lines += ["| window | version | rows | with outcome | favourable | drift | performance | fairness |", "|---|---|---|---|---|---|---|---|"]
    for r in outcome.reports:
        verdicts = []
        for kind in ("drift", "performance", "fairness"):
            s = r.suite(kind)
            verdicts.append("-" if s is None else ("pass" if s.passed else "**ALERT**"))
        rate = "-" if r.favourable_rate is None else f"{r.favourable_rate:.3f}"
        lines.append(f"| {r.window.label} | {r.version} | {r.rows} | {r.with_outcome} | {rate} | " + " | ".join(verdicts) + " |")
    if outcome.incident:
        lines += ["", f"Incident `{outcome.incident['incident_id']}` ({outcome.incident['kind']}), report due "
                  f"{outcome.incident['report_due_at']}"]
    try:
        create_markdown_artifact(markdown="\n".join(lines), key="govflow-monitoring",
                                 description=f"monitoring of {outcome.system}")
    except Exception:  # noqa: BLE001 - the UI view is a convenience; the ledger holds the record
        pass


# -- late outcomes -----------------------------------------------------------------------------

@task
def attach_outcomes_file(config: GovflowConfig, frame: pd.DataFrame, source: str) -> dict[str, Any]:
    """Attach the file's labels to the system's predictions (`govflow.governance.trail.outcomes`)."""
    from govflow.governance.trail.outcomes import attach_outcomes

    return attach_outcomes(get_ledger(), system=config.system.name, frame=frame, target=config.data.target,
                           id_column=config.data.id_column, source=source).to_dict()


@task
def read_outcomes_file(input_file: Path) -> pd.DataFrame:
    """The outcomes file (its bytes are recorded as this step's input)."""
    from govflow.governance.registry.datasets import read_frame

    return read_frame(input_file)


@flow(name="outcomes")
def outcomes_flow(config_path: str, input_path: str) -> dict[str, Any]:
    """Attach late outcomes from a file to logged predictions (recorded)."""
    config = steps.load_system_config(Path(config_path).absolute())
    frame = read_outcomes_file(Path(input_path).absolute())
    return attach_outcomes_file(config, frame, Path(input_path).name)
