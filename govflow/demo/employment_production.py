"""The employment story's production half (`govflow.demo.employment`): past traffic replayed, then watched.

Survey years 2016-2018 are served as three consecutive monitoring windows through the serving path
(`serve_rows`, each row at its replayed time), monitored before and after the outcomes arrive, and
the incident response runs on what monitoring found (or on an audit finding reported by hand) up to
the closing approval. Kept apart from the training and gating half so each reads in one sitting.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from govflow import canonical as canon
from govflow.demo.story import Story
from govflow.errors import ComplianceBlocked
from govflow.governance.ledger.engine import Ledger
from govflow.governance.registry import versions as registry

if TYPE_CHECKING:
    from govflow.governance.config import GovflowConfig

DATA = Path(__file__).resolve().parents[2] / "data"
ANALYSIS = DATA / "acs_employment_ma" / "analysis_2016_2018.parquet"
TARGETS = DATA / "acs_employment_ma" / "analysis_2016_2018_target.parquet"
YEARS = (2016, 2017, 2018)
SERVED_BY = {2016: 0, 2017: 1, 2018: 1}  # index into the trained versions: 2016 by v1, later years by v2
PER_YEAR_ENV = "GOVFLOW_EMPLOYMENT_PER_YEAR"
APPROVERS = (("Dana Meyer", "model_owner"), ("Ravi Patel", "risk_officer"))
AUTHORITY = "the market surveillance authority (demo)"  # a real plan names it: incident_response.authority
SEX = {"1": "male", "2": "female"}
RAC1P = {"1": "White", "2": "Black", "3": "American Indian", "4": "Alaska Native", "5": "AIAN tribes",
         "6": "Asian", "7": "Pacific Islander", "8": "other race", "9": "two or more races"}


@dataclass
class StoryResult:
    """What happened, for the tests and the summary."""

    versions: list[str] = field(default_factory=list)
    gates: dict[str, str] = field(default_factory=dict)
    promoted: list[str] = field(default_factory=list)
    served: dict[int, int] = field(default_factory=dict)
    served_after: str | None = None  #: the version that answers once the incident's rollback is done
    monitor_runs: list[Any] = field(default_factory=list)
    incident: Any = None
    incident_source: str | None = None
    refused_while_frozen: str | None = None
    closed: dict[str, Any] | None = None
    stopped: str | None = None
    verified: bool | None = None


def replay_start(now: datetime | None = None, windows: int = 3, size: timedelta = timedelta(days=7)) -> datetime:
    """Midnight UTC ``windows`` windows before today: the replayed years end before today begins."""
    today = (now or datetime.now(UTC)).astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - windows * size


def served_times(start: datetime, size: timedelta, index: int, count: int) -> list[datetime]:
    """``count`` instants spread evenly over window ``index`` from ``start`` (row order = time order)."""
    base = start + index * size
    return [base + size * ((i + 0.5) / count) for i in range(count)]


def production_sample(per_year: int | None, seed: int = 0) -> pd.DataFrame:
    """The 2016-2018 rows, all of them or a deterministic sample of ``per_year`` rows per year (by id)."""
    frame = pd.read_parquet(ANALYSIS).drop(columns=["prediction", "predicted_probability"])
    parts = []
    for year in YEARS:
        rows = frame[frame["year"] == year]
        if per_year is not None and per_year < len(rows):
            rows = rows.sample(n=per_year, random_state=seed)
        parts.append(rows.sort_values("id"))
    return pd.concat(parts, ignore_index=True)


def serve_rows(ledger: Ledger, system: str, rows: pd.DataFrame, times: list[datetime], caller: str,
               request_id: str, source: str = "rows", chunk: int = 5000) -> list[str]:
    """Validate, score and log rows with the version in production, each at its own (replayed) time.

    The same path as ``govflow serve`` and ``govflow run score`` (`govflow.flows.serving`, `govflow.governance.trail.predictions`),
    with the serving time given: the way to replay past traffic. Returns the prediction ids.
    """
    from govflow.flows.serving import check_input, load_production
    from govflow.governance.trail import predictions as preds

    served = load_production(ledger, system)
    ids: list[str] = []
    for begin in range(0, len(rows), chunk):
        part = rows.iloc[begin:begin + chunk].reset_index(drop=True)
        valid, _ = check_input(part, served.schema, source)
        started = time.perf_counter()
        outputs = served.predict(valid)
        per_row = (time.perf_counter() - started) * 1000 / max(len(valid), 1)
        records = [preds.make_record(request_id=request_id, system=system, model_version_id=served.version.id,
                                     output=out, valid=v, latency_ms=per_row, served_at=at, caller=caller,
                                     redaction=served.redaction)
                   for v, out, at in zip(valid, outputs, times[begin:begin + chunk])]
        receipt = preds.write_predictions(ledger, records, versions={served.version.id: str(served.version)})
        preds.refuse_unless_written(receipt, [r.id for r in records])
        ids += [r.id for r in records]
    return ids


def serve_year(ledger: Ledger, system: str, rows: pd.DataFrame, times: list[datetime], year: int) -> int:
    """One survey year's rows, served by the version in production at the replayed times."""
    caller = f"govflow demo employment replay (ACS survey year {year}; {registry.os_user()})"
    request_id = f"employment-replay-{year}-{canon.utc_now():%Y%m%dT%H%M%S}"
    return len(serve_rows(ledger, system, rows, times, caller, request_id, f"{ANALYSIS.name} ({year})"))


def _serve_after_rollback(ledger: Ledger, system: str, rows: pd.DataFrame) -> str:
    """Serve a few rows now, through the serving path, and say which version answered."""
    from govflow.flows.serving import load_production

    answering = str(load_production(ledger, system).version)
    caller = f"govflow demo employment, after the rollback ({registry.os_user()})"
    now = canon.utc_now()
    serve_rows(ledger, system, rows.reset_index(drop=True), [now] * len(rows), caller,
               f"employment-after-rollback-{now:%Y%m%dT%H%M%S}", f"{ANALYSIS.name} (2018, served again)")
    return answering


def _named(feature: str, group: str) -> str:
    names = SEX if feature == "SEX" else RAC1P if feature == "RAC1P" else {}
    return f"{group} {names[group]}" if group in names else group


def show_monitoring(story: Story, outcome: Any) -> None:
    from govflow.demo.report_text import report_lines

    for report in outcome.reports:
        for line in report_lines(report, groups=False):
            story.say(line)
    with_fairness = [r for r in outcome.reports if r.suite("fairness") is not None]
    if with_fairness:
        story.say("selection rate (share predicted employed) and TPR per group, by window:")
        header = f"  {'group':28}" + "".join(f" {r.window.start:%m-%d} {r.version.rsplit(':', 1)[1]:>3}      " for r in with_fairness)
        story.say(header)
        rows: dict[tuple[str, str], list[str]] = {}
        for i, report in enumerate(with_fairness):
            for row in report.suite("fairness").tables.get("by_group", ()):  # type: ignore[union-attr]
                if " & " in row["feature"]:
                    continue
                cell = rows.setdefault((row["feature"], row["group"]), ["".ljust(18)] * len(with_fairness))
                small = "*" if not row["judged"] else " "
                sel = "-" if row["selection_rate"] is None else f"{row['selection_rate']:.3f}"
                tpr = "-" if row["tpr"] is None else f"{row['tpr']:.3f}"
                cell[i] = f"{sel:>6} {tpr:>6}{small}".ljust(18)
        for (feature, group), cells in sorted(rows.items()):
            story.say(f"  {feature + '=' + _named(feature, group):28}" + " ".join(cells))
        story.say("  (each cell: selection rate, TPR; * = fewer than min_group_size rows: too small to judge)")
    for report in with_fairness:
        for line in fairness_notes(report):
            story.say(line)
    for alert in outcome.alerts:
        story.say(f"ALERT {alert.check} for {alert.version} in window {alert.window['start'][:10]}: "
                  + "; ".join(alert.findings[:3]))
    if not outcome.alerts:
        story.say("no alert: every critical result within the policy")


def fairness_notes(report: Any) -> list[str]:
    """What a window's fairness checks could not judge, what a pass leaves out, and the interval of a failure."""
    fairness = report.suite("fairness")
    if fairness is None:
        return []
    head = f"{report.window.start:%m-%d} {report.version}:"
    lines = []
    small: dict[str, list[str]] = {}
    minimum = 0
    for result in fairness.results:
        feature = result.details.get("feature", "")
        if result.name == "group_size" and result.passed is None and " & " not in feature:
            small.setdefault(feature, []).append(f"{_named(feature, result.details['group'])} ({int(result.observed)})")
            minimum = int(result.threshold)
    for feature, groups in small.items():
        lines.append(f"{head} {feature} groups too small to judge (< {minimum} rows): {', '.join(groups)}")
        caveats = [r for r in fairness.results if r.name == "small_group_exclusion" and r.subject == feature]
        if caveats:
            lines.append(f"{head}   {feature} passes only without them: "
                         + ", ".join(f"{r.details['metric']} {r.details['value_judged_groups']:.3f} "
                                     f"(with them {r.observed:.3f})" for r in caveats))
    for result in fairness.results:
        if " & " not in result.subject and result.passed is False and result.details.get("ci"):
            low, high = result.details["ci"]
            lines.append(f"{head} {result.subject} {result.name} {result.observed:.3f}, "
                         f"{result.details['confidence_level']:.0%} bootstrap interval [{low:.3f}, {high:.3f}], over "
                         + ", ".join(_named(result.subject, g) for g in result.details["groups_judged"]))
    return lines


def run_production(ledger: Ledger, home: Path, story: Story, result: StoryResult, configs: tuple[Path, Path],
                   per_year: int | None) -> None:
    """Steps 4 to 9 of the story (see `govflow.demo.employment`), on the versions ``result`` promoted."""
    from govflow.governance.config import load_config

    config = load_config(configs[0])
    rows = _serve_years(ledger, story, result, config, per_year)
    first, second = _monitor(home, story, result, configs, rows)
    out = _respond(ledger, story, result, configs, config.system.name, rows, first, second)
    if out is not None:
        _no_release_then_close(ledger, story, result, config.system.name, out)


def _serve_years(ledger: Ledger, story: Story, result: StoryResult, config: GovflowConfig,
                 per_year: int | None) -> pd.DataFrame:
    from govflow.governance.monitoring.results import parse_window

    system, size = config.system.name, parse_window(config.monitoring.window)
    story.begin("production, replayed: survey years 2016, 2017, 2018 served as three consecutive windows")
    rows = production_sample(per_year)
    sample = "all rows" if per_year is None else (f"a deterministic sample of {per_year} rows per year (seed 0); "
                                                  f"{PER_YEAR_ENV}=all serves every row")
    start = replay_start(size=size)
    story.say(f"{len(rows)} people ({sample}); window {config.monitoring.window} from {start:%Y-%m-%d}; "
              "every row validated against the production version's input schema, scored and logged")
    for index, year in enumerate(YEARS):
        wanted = result.promoted[min(SERVED_BY[year], len(result.promoted) - 1)]
        with ledger.read() as conn:
            serving = registry.production_version(conn, system)
        if serving is not None and str(serving) != wanted:
            registry.promote(ledger, wanted, by=registry.os_user(), required_roles=[r for _, r in APPROVERS])
            story.say(f"release: {wanted} promoted (replacing {serving})")
        year_rows = rows[rows["year"] == year]
        started = time.perf_counter()
        result.served[year] = serve_year(ledger, system, year_rows, served_times(start, size, index, len(year_rows)), year)
        story.say(f"{year}: {result.served[year]} decisions by {wanted} ({time.perf_counter() - started:.1f} s)")
    return rows


def _monitor(home: Path, story: Story, result: StoryResult, configs: tuple[Path, Path],
             rows: pd.DataFrame) -> tuple[Any, Any]:
    """Monitoring before the outcomes are known, then the outcomes, then monitoring again."""
    from govflow.flows.monitor import monitor_flow, outcomes_flow

    story.begin("monitoring, before any outcome is known: drift of the inputs and of the scores")
    first = monitor_flow(str(configs[0]), None, None, True)
    result.monitor_runs.append(first)
    show_monitoring(story, first)

    story.begin("the outcomes arrive: employment status of the people served (joined on id)")
    outcomes_file = home / "employment" / "outcomes_2016_2018.parquet"
    outcomes_file.parent.mkdir(parents=True, exist_ok=True)
    targets = pd.read_parquet(TARGETS)
    targets[targets["id"].isin(rows["id"])].to_parquet(outcomes_file, index=False)
    receipt = outcomes_flow(str(configs[0]), str(outcomes_file))
    story.say(f"attached {receipt['attached']} outcomes (joined on {receipt['joined_on']}; {receipt['unmatched']} unmatched)")

    story.begin("monitoring with outcomes: performance and fairness per SEX and RAC1P, per window")
    second = monitor_flow(str(configs[0]), None, None, True)
    result.monitor_runs.append(second)
    show_monitoring(story, second)
    return first, second


def _respond(ledger: Ledger, story: Story, result: StoryResult, configs: tuple[Path, Path], system: str,
             rows: pd.DataFrame, first: Any, second: Any) -> Any:
    """The incident playbook on the monitor's alert or an audit finding; None when there is neither."""
    from govflow.flows.incident import incident_flow
    from govflow.governance.config import load_config

    story.begin("incident response")
    implicated = result.promoted[-1]
    implicated_config = load_config(configs[len(result.promoted) - 1])
    incident_id = (second.incident or first.incident or {}).get("incident_id")
    if incident_id:
        result.incident_source = "monitoring alert"
        story.say(f"the monitor opened incident {incident_id} from its alert; the playbook runs on it")
        out = incident_flow(str(configs[-1]), "", "malfunction", None, None, incident_id, None)
    elif implicated_config.data.sensitive_as_features:
        result.incident_source = "reported by hand"
        reason = (f"internal audit: {implicated} takes the protected attributes SEX and RAC1P as model inputs in an "
                  "employment screening decision; monitoring raised no alert, the audit finding is reported as an incident")
        story.say("monitoring raised no alert on this data: the incident is NOT the monitor's; it is reported by hand, "
                  "from an audit finding:")
        story.say(f"  {reason}")
        out = incident_flow(str(configs[-1]), reason, "fundamental_rights", None, implicated, None, None)
    else:
        result.stopped = (f"monitoring raised no alert and no audit finding implicates {implicated}: there is no "
                          "incident to respond to")
        story.say(result.stopped)
        return None
    result.incident = out
    story.say(f"incident {out.incident_id} ({out.kind}); Art. 73 report due {out.report_due_at}")
    rb = out.rollback
    story.say(f"frozen; suspended {rb.get('suspended')}; "
              + (f"serving rolled back to {rb['restored']}" if rb.get("restored") else "serving stopped (no compliant earlier version)"))
    if rb.get("restored"):
        story.say(f"{rb['restored']} is restored because its gate passed and no open incident implicates it "
                  "(the playbook's rule)")
        earlier = [a for run in result.monitor_runs for a in run.alerts if a.version == rb["restored"]]
        if earlier:
            story.say(f"note: monitoring alerted on {rb['restored']} too (window {earlier[-1].window['start'][:10]}: "
                      + "; ".join(earlier[-1].findings[:2]) + "); that finding stays on this incident's record for review")
        result.served_after = _serve_after_rollback(ledger, system, rows[rows["year"] == YEARS[-1]].head(5))
        story.say(f"the next 5 requests (2018 people, served now) are answered by {result.served_after}")
    if out.impact:
        story.say(f"impact ({out.impact['scope']}): {out.impact['decisions']} decisions by {out.impact['version']}:")
        for row in out.impact["by_group"]:
            story.say(f"  {row['feature'] + '=' + _named(row['feature'], row['group']):28} {row['decisions']:>6} decisions, "
                      f"favourable {row['favourable_rate']:.3f}, {row['false_unfavourable']} predicted not employed but employed")
    for line in out.root_cause:
        story.say(f"root cause: {line}")
    story.say(f"drafts stored: {', '.join(out.documents)}")
    return out


def _no_release_then_close(ledger: Ledger, story: Story, result: StoryResult, system: str, out: Any) -> None:
    from govflow.governance.monitoring import incidents, reporting

    implicated = result.promoted[-1]
    story.begin("while the incident is open, no release")
    try:
        registry.promote(ledger, result.promoted[-1], by=registry.os_user(), required_roles=[r for _, r in APPROVERS])
    except ComplianceBlocked as refused:
        result.refused_while_frozen = str(refused)
        story.say(f"promotion refused: {refused}")

    story.begin("close the incident (a named approval)")
    sent = reporting.notify(ledger, out.incident_id, to=AUTHORITY, reference=f"AI-INC-{out.incident_id[:8]}",
                            by="Ravi Patel")
    story.say(f"Art. 73 report {sent['reference']} sent to {sent['to']} ("
              f"{'within the deadline' if sent['on_time'] else 'LATE'}, due {sent['report_due_at'][:10]}): only now may it close")
    result.closed = incidents.close(ledger, out.incident_id, approver="Ravi Patel", role="risk_officer",
                                    reason=f"{implicated} suspended, serving on the earlier version; Art. 73 report sent; "
                                           "affected decisions queued for human review")
    story.say(f"closed by Ravi Patel (risk_officer); {system} {'unfrozen' if result.closed['unfrozen'] else 'still frozen'}")
    with ledger.read() as conn:
        view = incidents.get(conn, out.incident_id)
    story.say("timeline: " + " → ".join(e["action"] for e in view.events))
