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

Every check is a recorded task, linked to the version it judged, its results tagged with the window.
A failed critical result is an alert: the flow opens an incident (`govflow.governance.monitoring.incidents`; a fairness
alert is a ``fundamental_rights`` incident, any other a ``malfunction``), or adds the alert to the
open incident that already implicates that version, and emits the Prefect event
``govflow.monitoring.alert`` (resource ``govflow.incident.<id>``, labels ``govflow.system``,
``govflow.incident``, ``govflow.version``, ``govflow.config``) that triggers the incident response
deployment (deployments/prefect.yaml). ``govflow run monitor`` exits 1 when an alert fired.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from govflow import canonical as canon
from govflow.checks.results import SuiteResult
from govflow.errors import InputError
from govflow.flows import steps
from govflow.flows.models import tabular as modeling
from govflow.flows.recording import current_run_id, flow, get_ledger, link_model_version, task
from govflow.governance.config import GovflowConfig
from govflow.governance.ledger.engine import Ledger
from govflow.governance.monitoring import incidents
from govflow.governance.monitoring import results as mon
from govflow.governance.registry import versions as registry
from govflow.governance.registry.datasets import binary_target, feature_columns

ALERT_EVENT = "govflow.monitoring.alert"
ALERT_KIND = {"fairness": incidents.IncidentKind.FUNDAMENTAL_RIGHTS}  # anything else: malfunction


@dataclass(frozen=True)
class Alert:
    """A failed critical result: which check, version and window, and what it found."""

    check: str  #: data_drift | prediction_drift | performance | fairness
    version: str
    model_version_id: str
    window: dict[str, Any]
    findings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "version": self.version, "model_version_id": self.model_version_id,
                "window": self.window, "findings": list(self.findings)}


@dataclass(frozen=True)
class WindowReport:
    """What one version did in one window, and what the checks found."""

    window: mon.Window
    version: str
    model_version_id: str
    rows: int
    with_outcome: int
    purged: int
    favourable_rate: float | None
    decisions_by_group: tuple[dict[str, Any], ...]
    suites: tuple[SuiteResult, ...] = ()
    not_judged: tuple[str, ...] = ()  #: checks that could not run, with the reason

    def suite(self, kind: str) -> SuiteResult | None:
        return next((s for s in self.suites if s.kind.value == kind), None)

    def to_dict(self) -> dict[str, Any]:
        return {"window": self.window.to_dict(), "version": self.version, "model_version_id": self.model_version_id,
                "rows": self.rows, "with_outcome": self.with_outcome, "purged": self.purged,
                "favourable_rate": self.favourable_rate, "decisions_by_group": [dict(r) for r in self.decisions_by_group],
                "suites": [s.to_dict() for s in self.suites], "not_judged": list(self.not_judged)}


@dataclass(frozen=True)
class MonitorOutcome:
    system: str
    window: str
    reports: tuple[WindowReport, ...]
    alerts: tuple[Alert, ...]
    incident: dict[str, Any] | None = None  #: the incident opened or updated, when an alert fired
    notes: tuple[str, ...] = field(default=())

    @property
    def alerted(self) -> bool:
        return bool(self.alerts)

    def to_dict(self) -> dict[str, Any]:
        return {"system": self.system, "window": self.window, "reports": [r.to_dict() for r in self.reports],
                "alerts": [a.to_dict() for a in self.alerts], "incident": self.incident, "notes": list(self.notes)}


# -- plain functions (tested on their own) -------------------------------------------------------

def tag(suite: SuiteResult, window: mon.Window, version: str, model_version_id: str) -> SuiteResult:
    """The suite with every result's details naming the window and version it judged."""
    extra = {"window": window.to_dict(), "model_version": version, "model_version_id": model_version_id}
    results = tuple(replace(r, details={**r.details, **extra}) for r in suite.results)
    return replace(suite, results=results, summary={**suite.summary, **extra})


def _categorical_as_text(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    out = frame[columns].copy()
    for column in columns:
        if not (pd.api.types.is_numeric_dtype(out[column]) and not pd.api.types.is_bool_dtype(out[column])):
            out[column] = out[column].astype(str)
    return out


def reference_with_scores(config: GovflowConfig, model: Any, reference: pd.DataFrame) -> pd.DataFrame:
    """The training reference split with the version's decision and score on each row."""
    decisions, scores = modeling.score(config, model, reference)
    frame = reference.copy()
    frame["decision"], frame["score"] = decisions, scores
    return frame


def input_drift(config: GovflowConfig, reference: pd.DataFrame, current: pd.DataFrame,
                report: bool = False) -> SuiteResult:
    """Data drift of the features and prediction drift of the scores (rows with a payload only).

    With ``report`` the suite carries Evidently's HTML report (about 4 MB; it takes a few seconds).
    """
    from govflow.checks.drift import assess_drift

    live = current[~current["purged"].astype(bool)]
    model_inputs = feature_columns(config, reference.drop(columns=["decision", "score"], errors="ignore"))
    features = [c for c in model_inputs if c in live.columns]
    columns = features + ["score"]
    return assess_drift(reference=_categorical_as_text(reference, columns),
                        current=_categorical_as_text(live.reset_index(drop=True), columns),
                        columns=features, prediction="score", policy=config.policy_model(), report=report)


UNJUDGEABLE_OUTPUT = (
    "{count} logged prediction(s) of {system} with an outcome have no decision (0 or 1) and score (a number) in "
    "their output, e.g. prediction {example}: monitoring judges outcomes against {{\"decision\", \"score\"}}. "
    "A service recorded through govflow.web.instrument must map its answers to that shape with outputs=."
)


def _labelled(config: GovflowConfig, current: pd.DataFrame) -> pd.DataFrame:
    rows = current[current["outcome"].notna() & ~current["purged"].astype(bool)].reset_index(drop=True)
    decided = pd.to_numeric(rows["decision"], errors="coerce").isin([0, 1])
    scored = pd.to_numeric(rows["score"], errors="coerce").notna()
    if not (decided & scored).all():
        unjudgeable = rows[~(decided & scored)]
        raise InputError(UNJUDGEABLE_OUTPUT.format(count=len(unjudgeable), system=config.system.name,
                                                   example=unjudgeable["prediction_id"].iloc[0]))
    return rows


def enough_outcomes(config: GovflowConfig, current: pd.DataFrame) -> str | None:
    """None when performance and fairness can be judged, else why not."""
    rows = _labelled(config, current)
    minimum = config.policy_model().fairness.min_group_size
    if len(rows) < minimum:
        return f"{len(rows)} prediction(s) with an outcome (fewer than {minimum}): performance and fairness not judged yet"
    if binary_target(config, rows["outcome"]).nunique() < 2:
        return "the outcomes so far hold one class only: performance and fairness not judged yet"
    return None


def outcome_performance(config: GovflowConfig, current: pd.DataFrame) -> SuiteResult:
    from govflow.checks.performance import assess_performance

    rows = _labelled(config, current)
    sensitive = [s.column for s in config.data.sensitive()]
    return assess_performance(y_true=binary_target(config, rows["outcome"]), y_score=rows["score"].astype(float),
                              y_pred=rows["decision"].astype(int), positive_label=1,
                              sensitive=rows[sensitive] if sensitive else None,
                              sensitive_features=[s.model_dump() for s in config.data.sensitive()] or None,
                              policy=config.policy_model())


def outcome_fairness(config: GovflowConfig, current: pd.DataFrame) -> SuiteResult:
    from govflow.checks.fairness import assess_fairness

    rows = _labelled(config, current)
    return assess_fairness(y_true=binary_target(config, rows["outcome"]), y_pred=rows["decision"].astype(int),
                           y_score=rows["score"].astype(float), sensitive=rows[[s.column for s in config.data.sensitive()]],
                           positive_label=1, sensitive_features=[s.model_dump() for s in config.data.sensitive()],
                           policy=config.policy_model())


def decisions_by_group(config: GovflowConfig, current: pd.DataFrame) -> list[dict[str, Any]]:
    """Per sensitive feature and group: decisions and the share favourable (no labels needed)."""
    from govflow.checks.groups import SensitiveFeature, group_labels

    live = current[~current["purged"].astype(bool)].reset_index(drop=True)
    out: list[dict[str, Any]] = []
    for spec in config.data.sensitive():
        if spec.column not in live.columns or live.empty:
            continue
        try:
            labels = group_labels(live[[spec.column]], [SensitiveFeature.parse(spec.model_dump())])[spec.column]
        except InputError:  # a single group or values outside the bins: show the raw values
            labels = live[spec.column].astype(str)
        decided = pd.to_numeric(live["decision"], errors="coerce")
        for group, index in labels.groupby(labels).groups.items():
            values = decided.loc[index]
            out.append({"feature": spec.column, "group": str(group), "decisions": int(len(index)),
                        "favourable_rate": float(values.mean()) if values.notna().any() else None})
    return out


def alerts_of(report: WindowReport) -> list[Alert]:
    """The failed critical results of a window report, grouped by check."""
    from govflow.flows.gate import describe_failure

    found: dict[str, list[str]] = {}
    for suite in report.suites:
        for result in suite.blocking:
            check = suite.kind.value
            if suite.kind.value == "drift":
                check = "prediction_drift" if result.name == "prediction_drift" else "data_drift"
            found.setdefault(check, []).append(describe_failure(result))
    return [Alert(check=check, version=report.version, model_version_id=report.model_version_id,
                  window=report.window.to_dict(), findings=tuple(lines)) for check, lines in found.items()]


def incident_kind(alerts: list[Alert]) -> incidents.IncidentKind:
    kinds = {ALERT_KIND.get(a.check, incidents.IncidentKind.MALFUNCTION) for a in alerts}
    return incidents.IncidentKind.FUNDAMENTAL_RIGHTS if incidents.IncidentKind.FUNDAMENTAL_RIGHTS in kinds \
        else incidents.IncidentKind.MALFUNCTION


def implicated(conn: Any, system: str, alerts: list[Alert]) -> Alert:
    """The alert whose version to implicate: the version in production if it alerted, else the latest window's."""
    serving = registry.production_version(conn, system)
    for alert in reversed(alerts):
        if serving is not None and alert.model_version_id == serving.id:
            return alert
    return max(alerts, key=lambda a: a.window["end"])


def summary_of(system: str, alerts: list[Alert]) -> str:
    parts = []
    for alert in alerts[:6]:
        parts.append(f"{alert.check} alert for {alert.version} in window {alert.window['start'][:16]}.."
                     f"{alert.window['end'][:16]}: " + "; ".join(alert.findings[:3]))
    more = f" (and {len(alerts) - 6} more alerts)" if len(alerts) > 6 else ""
    return f"monitoring of {system}: " + " | ".join(parts) + more


def open_or_update_incident(ledger: Ledger, config: GovflowConfig, config_file: str, alerts: list[Alert],
                            run_id: str | None) -> dict[str, Any]:
    """Open an incident for the alerts (or add them to the open one implicating the same version)."""
    by = f"govflow monitoring ({registry.os_user()})"
    system = config.system.name
    with ledger.read() as conn:
        chosen = implicated(conn, system, alerts)
        already = [i for i in incidents.list_incidents(conn, system, open_only=True)
                   if i.model_version_id == chosen.model_version_id]
    details = {"alerts": [a.to_dict() for a in alerts], "window": chosen.window, "monitor_run_id": run_id}
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


def version_config(ledger: Ledger, config: GovflowConfig, model_version_id: str) -> GovflowConfig:
    """The version's own config (its features, sensitive attributes, labels) under the policy in force now.

    A version is scored and read with the config stored with it; it is judged by the policy of the
    config monitoring runs with, so a policy tightened after release applies to what serves now.
    """
    from govflow.flows.serving import config_of

    with ledger.read() as conn:
        snapshot = registry.version_row(conn, model_version_id)["config_snapshot"]
    return config_of(snapshot).model_copy(update={"policy": config.policy})


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


def window_report(config: GovflowConfig, window: mon.Window, version: str, model_version_id: str,
                  current: pd.DataFrame) -> WindowReport:
    """The label-free figures of one version's rows in a window (the checks are added by the caller)."""
    decided = pd.to_numeric(current["decision"], errors="coerce")
    return WindowReport(window=window, version=version, model_version_id=model_version_id, rows=len(current),
                        with_outcome=int(current["outcome"].notna().sum()), purged=int(current["purged"].sum()),
                        favourable_rate=float(decided.mean()) if decided.notna().any() else None,
                        decisions_by_group=tuple(decisions_by_group(config, current)))


def version_labels(ledger: Ledger, ids: list[str]) -> dict[str, str]:
    from sqlalchemy import select

    from govflow.governance.ledger.schema import ModelVersion

    with ledger.read() as conn:
        return {i: f"{s}:{v}" for i, s, v in conn.execute(
            select(ModelVersion.id, ModelVersion.system, ModelVersion.version).where(ModelVersion.id.in_(ids)))}


def run_checks(config: GovflowConfig, reference: pd.DataFrame, report: WindowReport,
               current: pd.DataFrame) -> WindowReport:
    """Every check of one version in one window, in-process (the fleet's way; the flow records each)."""
    suites = [tag(input_drift(config, reference, current), report.window, report.version, report.model_version_id)]
    not_judged = []
    reason = enough_outcomes(config, current)
    if reason is None:
        for fn in (outcome_performance, outcome_fairness):
            try:
                suites.append(tag(fn(config, current), report.window, report.version, report.model_version_id))
            except InputError as e:
                not_judged.append(f"{fn.__name__}: {e}")
    else:
        not_judged.append(reason)
    return replace(report, suites=tuple(suites), not_judged=tuple(not_judged))


def monitor_system(ledger: Ledger, config: GovflowConfig, config_file: str, window: str | None = None,
                   last: int | None = None, open_incident: bool = True, run_id: str | None = None) -> MonitorOutcome:
    """The whole monitoring of one system in one process, unrecorded step by step (see `monitor_flow`)."""
    size_text = window or config.monitoring.window
    size = mon.parse_window(size_text)
    system = config.system.name
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
                configs[mv_id] = version_config(ledger, config, mv_id)
                references[mv_id] = load_reference(ledger, configs[mv_id], mv_id)
            report = window_report(configs[mv_id], w, labels[mv_id], mv_id, rows)
            reports.append(run_checks(configs[mv_id], references[mv_id], report, rows))
    alerts = [a for r in reports for a in alerts_of(r)]
    incident = open_or_update_incident(ledger, config, config_file, alerts, run_id) if alerts and open_incident else None
    notes = () if windows else (f"no predictions logged for {system} yet",)
    return MonitorOutcome(system=system, window=size_text, reports=tuple(reports), alerts=tuple(alerts),
                          incident=incident, notes=notes)


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
                       window: dict[str, Any], version: str, model_version_id: str) -> SuiteResult:
    """Data drift of the production inputs and prediction drift of the scores vs the training reference."""
    suite = input_drift(config, reference, current)
    if not suite.passed:  # keep Evidently's report of a window that alerts (made only then: it is slow)
        suite = input_drift(config, reference, current, report=True)
        _store_report(tag(suite, _window(window), version, model_version_id), model_version_id)
    return tag(suite, _window(window), version, model_version_id)


@task
def assess_outcome_performance(config: GovflowConfig, current: pd.DataFrame, window: dict[str, Any], version: str,
                               model_version_id: str) -> SuiteResult:
    """Performance on the window's predictions that have an outcome, overall and per group."""
    return tag(outcome_performance(config, current), _window(window), version, model_version_id)


@task
def assess_outcome_fairness(config: GovflowConfig, current: pd.DataFrame, window: dict[str, Any], version: str,
                            model_version_id: str) -> SuiteResult:
    """Between-group disparities of the window's decisions that have an outcome."""
    return tag(outcome_fairness(config, current), _window(window), version, model_version_id)


@task
def raise_alerts(config: GovflowConfig, config_file: str, alerts: list[dict[str, Any]]) -> dict[str, Any]:
    """Open (or add to) the incident for the alerts and emit ``govflow.monitoring.alert``."""
    found = [Alert(a["check"], a["version"], a["model_version_id"], a["window"], tuple(a["findings"])) for a in alerts]
    return open_or_update_incident(get_ledger(), config, config_file, found, current_run_id())


def _store_report(suite: SuiteResult, model_version_id: str) -> None:
    """Keep Evidently's HTML report of a window whose drift check failed (about 4 MB each)."""
    report = suite.attachment("report")
    if report is None:
        return
    from govflow.governance.ledger.runs import add_artifact

    ledger = get_ledger()
    window = suite.summary.get("window", {})
    with ledger.write("monitoring.report", model_version_id) as w:
        add_artifact(w, ledger.artifacts, kind="report", name=f"drift-{window.get('start', '')[:10]}.html",
                     data=report.content, media_type=report.media_type, run_id=current_run_id(),
                     model_version_id=model_version_id)


@flow(name="monitor")
def monitor_flow(config_path: str, window: str | None = None, last: int | None = None,
                 open_incident: bool = True) -> MonitorOutcome:
    """Monitor the system of ``config_path`` over its logged predictions, window by window."""
    config = steps.load_system_config(Path(config_path).absolute())
    size_text = window or config.monitoring.window
    mon.parse_window(size_text)  # a bad window is an input error before anything runs
    system = config.system.name
    ledger = get_ledger()
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
                configs[mv_id] = version_config(ledger, config, mv_id)
                references[mv_id] = load_scored_reference(configs[mv_id], mv_id)
            vcfg = configs[mv_id]
            report = window_report(vcfg, _window(data), labels[mv_id], mv_id, rows)
            suites = [assess_input_drift(vcfg, references[mv_id], rows, data, labels[mv_id], mv_id)]
            not_judged = []
            reason = enough_outcomes(vcfg, rows)
            if reason is None:
                for check in (assess_outcome_performance, assess_outcome_fairness):
                    try:
                        suites.append(check(vcfg, rows, data, labels[mv_id], mv_id))
                    except InputError as e:
                        not_judged.append(f"{check.name}: {e}")
            else:
                not_judged.append(reason)
            reports.append(replace(report, suites=tuple(suites), not_judged=tuple(not_judged)))
    alerts = [a for r in reports for a in alerts_of(r)]
    incident = None
    if alerts and open_incident:
        incident = raise_alerts(config, str(Path(config_path).absolute()), [a.to_dict() for a in alerts])
    outcome = MonitorOutcome(system=system, window=size_text, reports=tuple(reports), alerts=tuple(alerts),
                             incident=incident, notes=() if planned else (f"no predictions logged for {system} yet",))
    _publish(outcome)
    return outcome


def _publish(outcome: MonitorOutcome) -> None:
    """A Prefect artifact for the UI's run history (a view; the ledger holds the record)."""
    from prefect.artifacts import create_markdown_artifact

    lines = [f"# Monitoring of {outcome.system} (window {outcome.window})", ""]
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

