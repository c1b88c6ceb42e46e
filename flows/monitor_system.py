"""Monitoring against the ledger: the versions' references and configs, and the incident an alert
opens (or adds to), plus `monitor_system`, the whole monitoring of one system in one process (the
fleet's way; `govflow.flows.monitor.monitor_flow` records it step by step).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd

from govflow import canonical as canon
from govflow.errors import InputError
from govflow.flows import steps
from govflow.flows.models import tabular as modeling
from govflow.flows.monitor_checks import (
    ALERT_EVENT,
    Alert,
    MonitorOutcome,
    WindowReport,
    alerts_of,
    implicated,
    incident_kind,
    reference_with_scores,
    run_checks,
    summary_of,
    window_report,
)
from govflow.governance.config import GovflowConfig
from govflow.governance.ledger.engine import Ledger
from govflow.governance.monitoring import incidents
from govflow.governance.monitoring import results as mon
from govflow.governance.registry import versions as registry
from govflow.governance.registry.policy_in_force import JudgingPolicy, judging_policy

log = logging.getLogger("govflow.monitoring")


def open_or_update_incident(ledger: Ledger, config: GovflowConfig, config_file: str, alerts: list[Alert],
                            run_id: str | None, policy: dict[str, Any] | None = None) -> dict[str, Any]:
    """Open an incident for the alerts (or add them to the open one implicating the same version);
    ``policy`` (`JudgingPolicy.to_dict`) is the policy the alerts were judged by, kept in the incident's record."""
    by = f"govflow monitoring ({registry.os_user()})"
    system = config.system.name
    with ledger.read() as conn:
        chosen = implicated(conn, system, alerts)
        already = [i for i in incidents.list_incidents(conn, system, open_only=True)
                   if i.model_version_id == chosen.model_version_id]
    details = {"alerts": [a.to_dict() for a in alerts], "window": chosen.window, "monitor_run_id": run_id}
    if policy is not None:
        details["policy"] = {k: policy[k] for k in ("policy_hash", "source", "cited", "config_policy_hash", "warning")}
    if already:
        incident = already[-1]
        incidents.record_event(ledger, incident.id, "alert", by, details)
        new = False
    else:
        incident = incidents.open_incident(ledger, system=system, kind=incident_kind(alerts),
                                           summary=summary_of(system, alerts), by=by,
                                           model_version_id=chosen.model_version_id, run_id=run_id, details=details)
        new = True
    emit_alert(config_file, system, incident.id, chosen.version, incident.kind.value, incident.severity.value)
    return {"incident_id": incident.id, "new": new, "kind": incident.kind.value, "severity": incident.severity.value,
            "version": chosen.version, "report_due_at": canon.format_ts(incident.report_due_at)}


def emit_alert(config_file: str, system: str, incident_id: str, version: str, kind: str, severity: str) -> None:
    from prefect.events import emit_event

    emit_event(event=ALERT_EVENT,
               resource={"prefect.resource.id": f"govflow.incident.{incident_id}", "govflow.system": system,
                         "govflow.incident": incident_id, "govflow.version": version, "govflow.config": config_file},
               payload={"kind": kind, "severity": severity})


def judged_policy(ledger: Ledger, config: GovflowConfig, config_file: str) -> JudgingPolicy:
    """The policy monitoring judges the system by: the policy in force now (the ledger record), never
    an unapproved edit of the config file (which is reported in ``warning``); the config's only while
    no policy is in force yet (`govflow.governance.registry.policy_in_force.judging_policy`)."""
    with ledger.read() as conn:
        found = judging_policy(conn, config.system.name, config.policy_model().to_dict(), source=config_file)
    assert found is not None  # a config was given
    if found.warning:
        log.warning("monitoring %s: %s", config.system.name, found.warning)
    return found


def version_config(ledger: Ledger, config: GovflowConfig, model_version_id: str,
                   policy: Mapping[str, Any] | None = None) -> GovflowConfig:
    """The version's own config (its features, sensitive attributes, labels) under ``policy``.

    A version is scored and read with the config stored with it; it is judged by the policy in force
    now (`judged_policy`; ``policy`` None: the config's), so a policy tightened after release applies
    to what serves now, and a bound loosened in the file but never put in force does not.
    """
    from govflow.flows.serving import config_of

    with ledger.read() as conn:
        snapshot = registry.version_row(conn, model_version_id)["config_snapshot"]
    return config_of(snapshot).model_copy(update={"policy": dict(config.policy if policy is None else policy)})


def load_reference(ledger: Ledger, config: GovflowConfig, model_version_id: str) -> pd.DataFrame:
    """The version's training reference split, scored by the version's own model."""
    data = registry.attachment(ledger, model_version_id, "reference_data")
    if data is None:
        raise InputError(f"model version {model_version_id} has no stored reference split; retrain it with `govflow run train`")
    with ledger.read() as conn:
        row = registry.version_row(conn, model_version_id)
    problem = ledger.artifacts.problem(row["artifact_hash"])
    if problem:
        raise InputError(f"cannot load the model of {row['system']}:{row['version']}: {problem}")
    model = modeling.load_model(ledger.artifacts.read(row["artifact_hash"]))
    frame = reference_with_scores(config, model, steps.read_parquet_bytes(data, "reference_data"))
    frame.attrs["govflow:name"] = f"reference split of {row['system']}:{row['version']}, scored"
    return frame



def version_labels(ledger: Ledger, ids: list[str]) -> dict[str, str]:
    from sqlalchemy import select

    from govflow.governance.ledger.schema import ModelVersion

    with ledger.read() as conn:
        return {i: f"{s}:{v}" for i, s, v in conn.execute(
            select(ModelVersion.id, ModelVersion.system, ModelVersion.version).where(ModelVersion.id.in_(ids)))}



def monitor_system(ledger: Ledger, config: GovflowConfig, config_file: str, window: str | None = None,
                   last: int | None = None, open_incident: bool = True, run_id: str | None = None) -> MonitorOutcome:
    """The whole monitoring of one system in one process, unrecorded step by step (see `monitor_flow`)."""
    size_text = window or config.monitoring.window
    size = mon.parse_window(size_text)
    system = config.system.name
    judged = judged_policy(ledger, config, config_file)
    with ledger.read() as conn:
        windows = mon.windows_for(conn, system, size, last)
    references: dict[str, pd.DataFrame] = {}
    configs: dict[str, GovflowConfig] = {}
    reports: list[WindowReport] = []
    for w in windows:
        with ledger.read() as conn:
            frame = mon.load_window(conn, system, w)
        labels = version_labels(ledger, sorted(frame["model_version_id"].unique()))
        for mv_id, rows in frame.groupby("model_version_id", sort=True):
            rows = rows.reset_index(drop=True)
            if mv_id not in references:
                configs[mv_id] = version_config(ledger, config, mv_id, judged.policy)
                references[mv_id] = load_reference(ledger, configs[mv_id], mv_id)
            report = window_report(configs[mv_id], w, labels[mv_id], mv_id, rows)
            reports.append(run_checks(configs[mv_id], references[mv_id], report, rows, judged.policy_hash))
    alerts = [a for r in reports for a in alerts_of(r)]
    policy = judged.to_dict()
    incident = (open_or_update_incident(ledger, config, config_file, alerts, run_id, policy)
                if alerts and open_incident else None)
    notes = () if windows else (f"no predictions logged for {system} yet",)
    return MonitorOutcome(system=system, window=size_text, reports=tuple(reports), alerts=tuple(alerts),
                          incident=incident, notes=notes, policy=policy)
