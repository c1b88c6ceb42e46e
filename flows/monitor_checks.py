"""Monitoring's plain parts: what a window report holds, the checks run on one version's window of
logged predictions, and the alerts they raise (`govflow.flows.monitor` records each as a task;
`govflow.flows.monitor_system.monitor_system` runs them in one process). No ledger access here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from govflow.checks.results import SuiteResult
from govflow.errors import InputError
from govflow.flows.models import tabular as modeling
from govflow.governance.config import GovflowConfig
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
    policy: dict[str, Any] | None = None  #: the policy judged by (`JudgingPolicy.to_dict`), with any warning

    @property
    def alerted(self) -> bool:
        return bool(self.alerts)

    def to_dict(self) -> dict[str, Any]:
        return {"system": self.system, "window": self.window, "reports": [r.to_dict() for r in self.reports],
                "alerts": [a.to_dict() for a in self.alerts], "incident": self.incident, "notes": list(self.notes),
                "policy": self.policy}


# -- plain functions (tested on their own) -------------------------------------------------------

def tag(suite: SuiteResult, window: mon.Window, version: str, model_version_id: str,
        policy_hash: str | None = None) -> SuiteResult:
    """The suite with every result's details naming the window and version it judged, and the policy it applied."""
    extra: dict[str, Any] = {"window": window.to_dict(), "model_version": version, "model_version_id": model_version_id}
    if policy_hash is not None:
        extra["policy_hash"] = policy_hash
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
    from govflow.checks.drift import OUT_OF_DOMAIN, assess_drift

    live = current[~current["purged"].astype(bool)]
    model_inputs = feature_columns(config, reference.drop(columns=["decision", "score"], errors="ignore"))
    features = [c for c in model_inputs if c in live.columns]
    columns = features + ["score"]
    counted = columns + [OUT_OF_DOMAIN] * (OUT_OF_DOMAIN in live.columns)  # serving's out-of-domain flags
    return assess_drift(reference=_categorical_as_text(reference, columns),
                        current=_categorical_as_text(live.reset_index(drop=True), counted),
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


def window_report(config: GovflowConfig, window: mon.Window, version: str, model_version_id: str,
                  current: pd.DataFrame) -> WindowReport:
    """The label-free figures of one version's rows in a window (the checks are added by the caller)."""
    decided = pd.to_numeric(current["decision"], errors="coerce")
    return WindowReport(window=window, version=version, model_version_id=model_version_id, rows=len(current),
                        with_outcome=int(current["outcome"].notna().sum()), purged=int(current["purged"].sum()),
                        favourable_rate=float(decided.mean()) if decided.notna().any() else None,
                        decisions_by_group=tuple(decisions_by_group(config, current)))



def run_checks(config: GovflowConfig, reference: pd.DataFrame, report: WindowReport,
               current: pd.DataFrame, policy_hash: str | None = None) -> WindowReport:
    """Every check of one version in one window, in-process (the fleet's way; the flow records each)."""
    suites = [tag(input_drift(config, reference, current), report.window, report.version, report.model_version_id,
                  policy_hash)]
    not_judged = []
    reason = enough_outcomes(config, current)
    if reason is None:
        for fn in (outcome_performance, outcome_fairness):
            try:
                suites.append(tag(fn(config, current), report.window, report.version, report.model_version_id,
                                  policy_hash))
            except InputError as e:
                not_judged.append(f"{fn.__name__}: {e}")
    else:
        not_judged.append(reason)
    return replace(report, suites=tuple(suites), not_judged=tuple(not_judged))
