"""`govflow demo --scenario employment`: the post-deployment story on real data (ACS employment, Massachusetts).

Nothing is tuned for the story. The policy is govflow's documented default (written out in the
configs), the data is the real data, and whatever the gate and the monitor find is what the demo
shows. The whole story, as `run_story` runs it, step by step, every step recorded:

1. version 1 on survey year 2015 (data/employment.govflow.yaml), gated. Trained plainly, this
   logistic regression is BLOCKED by the default policy: on the 2015 held-out split its decisions
   differ too much between RAC1P groups (demographic parity difference 0.238, disparate impact 0.624,
   equalized odds difference 0.182; tests/monitoring/employment-unmitigated.govflow.yaml). So, as a
   team would, version 1 is the bias-mitigated model: fairlearn's ExponentiatedGradient with an
   equalized-odds constraint over SEX x RAC1P, the sensitive attributes used in training only (the
   model decides from the other features). It passes: RAC1P 0.086 / 0.857 / 0.063, SEX 0.034 /
   0.941 / 0.019, ROC AUC 0.813. The gate judges the RAC1P groups White, Black, Asian, other race
   and two or more races; American Indian, AIAN tribes and Pacific Islander people number 19, 19
   and 6 in the held-out split: too few (< min_group_size 30) to judge. The intersection SEX x RAC1P
   is past the bounds (0.167 / 0.744 / 0.133) at the warning severity the default policy gives it;
2. two named approvals, promotion;
3. version 2 (data/employment-v2.govflow.yaml): the same mitigation with SEX and RAC1P given to the
   model as features, for accuracy (ROC AUC 0.855). The gate passes it too (RAC1P 0.094 / 0.830 /
   0.030, SEX 0.045 / 0.921 / 0.024); approvals; released once 2016 has been served;
4. production, replayed: the survey years 2016, 2017 and 2018 (analysis_2016_2018.parquet) are served
   as three consecutive monitoring windows of the config's ``monitoring.window`` (7 days), the last
   three before today: 2016 by version 1, 2017 and 2018 by version 2. Each row is validated against
   the production version's input schema, scored and logged (`govflow.governance.trail.predictions`) with its
   replayed ``served_at``;
5. monitoring before any outcome is known: data and prediction drift per window;
6. the outcomes arrive (analysis_2016_2018_target.parquet, joined on ``id`` through the logged
   subject ids: `govflow outcomes`);
7. monitoring again: performance and fairness per SEX and RAC1P, per window, with the groups too
   small to judge and what the disparities would be with them;
8. the incident: opened by the monitor's alert, or, when monitoring raised none, reported by hand
   from an audit finding (version 2 decides with race and sex themselves); the demo says which. The
   playbook freezes the system, suspends version 2, rolls serving back to version 1 (the last version
   whose gate passed and that no open incident implicates; the demo says so if monitoring flagged it
   too), measures the impact, diffs the versions and drafts the Art. 73 notification; the next
   requests are answered by version 1;
9. a promotion refused while frozen; the incident closed with a named approval; `verify`.

What monitoring finds (measured on a two-core machine). The demo serves a deterministic sample of
20,000 people per survey year: no data or prediction drift in any window (no feature drifted; the
largest distance, ANC, 0.02-0.04); ROC AUC 0.81 (version 1, 2016) and 0.85 (version 2, 2017-2018);
every SEX and RAC1P disparity within the bounds (RAC1P demographic parity difference 0.095, 0.069,
0.063; equalized odds difference 0.052, 0.073, 0.047). So monitoring raises no alert and the
incident is reported by hand. But American Indian, AIAN tribes and Pacific Islander people number
5 to 29 per window: not judged, and the demo prints what the disparities would be with them.
Served in full (all 208,892 people: ``GOVFLOW_EMPLOYMENT_PER_YEAR=all``, about 40 s more), American
Indian (73-83 per window) and AIAN tribes (39-56) people are judged in every window, Pacific
Islander (32) in 2016, and monitoring ALERTS on RAC1P in every window, for both versions:
2016 under version 1 (demographic parity difference 0.148, 95% interval 0.093-0.356; disparate
impact 0.751; equalized odds difference 0.197), 2017 and 2018 under version 2 (equalized odds
difference 0.136; then 0.170 / 0.745 / 0.217); SEX stays within the bounds. The monitor's incident
implicates version 2 (the version serving), the rollback restores version 1 by the playbook's rule,
and the demo notes that monitoring flagged version 1 in 2016 as well: what the gate could not judge,
production volume can, for either model.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import typer
from sqlalchemy import select

from govflow import canonical as canon
from govflow.demo.story import Story, show_fairness
from govflow.errors import ComplianceBlocked, InputError
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import ModelVersion
from govflow.governance.registry import versions as registry

DATA = Path(__file__).resolve().parents[2] / "data"
CONFIGS = (DATA / "employment.govflow.yaml", DATA / "employment-v2.govflow.yaml")
ANALYSIS = DATA / "acs_employment_ma" / "analysis_2016_2018.parquet"
TARGETS = DATA / "acs_employment_ma" / "analysis_2016_2018_target.parquet"
YEARS = (2016, 2017, 2018)
SERVED_BY = {2016: 0, 2017: 1, 2018: 1}  # index into the trained versions: 2016 by v1, later years by v2
# The demo serves a deterministic sample of 20,000 people per survey year (seed 0), 60,000 of the 208,892:
# 2.6 to 3.4 minutes end to end on a two-core machine shared with other work (about 40 s more serving
# every row), most of it the two mitigated trainings. GOVFLOW_EMPLOYMENT_PER_YEAR sets another size, or `all`.
DEMO_PER_YEAR = 20_000
PER_YEAR_ENV = "GOVFLOW_EMPLOYMENT_PER_YEAR"
APPROVERS = (("Dana Meyer", "model_owner"), ("Ravi Patel", "risk_officer"))
FRESH_LEDGER = ("the employment demo tells its story on a ledger without {system}: this one already holds "
                "{count} version(s) of it. Run it with a new home, e.g. `govflow --home /tmp/employment-demo "
                "demo --scenario employment`")
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


def _approve(ledger: Ledger, story: Story, version: str) -> None:
    for name, role in APPROVERS:
        row = registry.approve(ledger, version, approver=name, role=role, required_roles=[r for _, r in APPROVERS],
                               reason="gate passed; model card, fairness results and monitoring plan reviewed")
        story.say(f"approved by {name} ({role}, OS user {row['os_user']})")


def _train_and_gate(story: Story, config_path: Path, label: str) -> tuple[str, Any]:
    from govflow.flows.gate import gate_flow
    from govflow.flows.train import train_flow
    from govflow.governance.config import load_config

    config = load_config(config_path)
    story.begin(f"train {label}")
    inputs = ("SEX and RAC1P are model inputs" if config.data.sensitive_as_features
              else "SEX and RAC1P are kept out of the model's inputs")
    if config.model.mitigation == "exponentiated_gradient":
        over = " x ".join(s.column for s in config.data.sensitive())
        story.say(f"{config.model.estimator} with bias mitigation: fairlearn ExponentiatedGradient, equalized odds over "
                  f"{over} (the sensitive attributes used in training); {inputs}")
        story.say("the reduction fits the estimator about 150 times on the training split: the longest step of the "
                  "story (a minute or so) ...")
    else:
        story.say(f"{config.model.estimator}, mitigation {config.model.mitigation}; {inputs}")
    started = time.perf_counter()
    trained = train_flow(str(config_path))
    story.say(f"registered {trained.version} in {time.perf_counter() - started:.1f} s (training data validated: "
              f"{'passed' if trained.validation.passed else 'FAILED'}; held-out performance: "
              f"{'passed' if trained.performance.passed else 'below the policy'})")
    story.begin(f"pre-deployment gate for {trained.version}")
    outcome = gate_flow(str(config_path), trained.version.rsplit(":", 1)[1])
    show_fairness(story, outcome, selection="share predicted employed")
    story.say("RAC1P codes: " + ", ".join(f"{code} {name}" for code, name in RAC1P.items()) + "; SEX 1 male, 2 female")
    performance = next((s for s in outcome.suites if s.kind.value == "performance"), None)
    if performance is not None:
        overall = performance.summary.get("overall", {})
        story.say(f"held-out ROC AUC {overall.get('roc_auc', float('nan')):.3f}, accuracy {overall.get('accuracy', float('nan')):.3f}")
    fairness = next((s for s in outcome.suites if s.kind.value == "fairness"), None)
    crossed = [r for r in (fairness.results if fairness else ()) if " & " in r.subject and r.name in
               ("demographic_parity_difference", "disparate_impact_ratio", "equalized_odds_difference")]
    if crossed:
        story.say(f"the intersection {crossed[0].subject} (severity {crossed[0].severity.value} under this policy: "
                  "reported, not blocking): " + ", ".join(
                      f"{r.name} {r.observed:.3f} ({'within' if r.passed else 'past' if r.passed is False else 'not judged at'} "
                      f"{r.threshold})" for r in crossed if r.observed is not None))
    story.say(f"decision: {outcome.outcome.upper()} (policy {outcome.policy_hash[:12]})")
    for reason in outcome.reasons[:6]:
        story.say(f"  - {reason}")
    return trained.version, outcome


def run_story(ledger: Ledger, home: Path, configs: tuple[Path, Path] = CONFIGS, per_year: int | None = None,
              story: Story | None = None) -> StoryResult:
    """The employment story (see the module doc); stops, saying why, where the real result allows no more."""
    from govflow.flows.incident import incident_flow
    from govflow.flows.monitor import monitor_flow, outcomes_flow
    from govflow.governance.config import load_config
    from govflow.governance.ledger.verify import verify
    from govflow.governance.monitoring import incidents

    story = story or Story(steps=14)
    result = StoryResult()
    config = load_config(configs[0])
    system = config.system.name
    with ledger.read() as conn:
        count = len(conn.execute(select(ModelVersion.id).where(ModelVersion.system == system)).all())
    if count:
        raise InputError(FRESH_LEDGER.format(system=system, count=count))

    for config_path, label in ((configs[0], "version 1 on the 2015 survey"),
                               (configs[1], "version 2: the same data, a change to the model")):
        version, gate = _train_and_gate(story, config_path, label)
        result.versions.append(version)
        result.gates[version] = gate.outcome
        story.begin(f"human oversight and promotion of {version}")
        if gate.outcome != "pass":
            try:
                registry.promote(ledger, version, by=registry.os_user(), required_roles=[r for _, r in APPROVERS])
            except ComplianceBlocked as refused:
                story.say(f"promotion refused, as it must be: {refused}")
            if not result.promoted:
                result.stopped = (f"the gate blocked {version} under the documented default policy, so no version can "
                                  "go into production: serving 2016-2018, monitoring and the incident need one")
                story.say("the story stops here: " + result.stopped + ". govflow does not relax a policy to make a "
                          "demo go on; that is a decision for the risk officer, recorded in the config and its hash. "
                          "What a team does next is mitigate and retrain (model.mitigation in the config).")
                break
            story.say(f"{result.promoted[-1]} stays in production; the story goes on with it alone")
            continue
        _approve(ledger, story, version)
        if not result.promoted:
            registry.promote(ledger, version, by=registry.os_user(), required_roles=[r for _, r in APPROVERS])
            story.say(f"{version} is in production")
        else:
            story.say(f"{version} approved; it is released (promoted) once 2016 has been served by {result.promoted[0]}")
        result.promoted.append(version)

    if result.promoted:
        _production(ledger, home, story, result, configs, per_year, monitor_flow, outcomes_flow, incident_flow,
                    incidents)
    story.begin("verify the ledger end to end")
    report = verify(ledger)
    result.verified = report.intact
    story.say(f"{'intact' if report.intact else 'TAMPERED'}: {report.entries} chained entries, {report.rows} rows, "
              f"{report.artifacts} stored files re-hashed; head {report.head_seq} {report.head_hash[:16]}...")
    return result


def _production(ledger: Ledger, home: Path, story: Story, result: StoryResult, configs: tuple[Path, Path],
                per_year: int | None, monitor_flow: Any, outcomes_flow: Any, incident_flow: Any, incidents: Any) -> None:
    from govflow.governance.config import load_config
    from govflow.governance.monitoring.results import parse_window

    config = load_config(configs[0])
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
        return
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

    story.begin("while the incident is open, no release")
    try:
        registry.promote(ledger, result.promoted[-1], by=registry.os_user(), required_roles=[r for _, r in APPROVERS])
    except ComplianceBlocked as refused:
        result.refused_while_frozen = str(refused)
        story.say(f"promotion refused: {refused}")

    story.begin("close the incident (a named approval)")
    result.closed = incidents.close(ledger, out.incident_id, approver="Ravi Patel", role="risk_officer",
                                    reason=f"{implicated} suspended, serving on the earlier version; notification drafted; "
                                           "affected decisions queued for human review")
    story.say(f"closed by Ravi Patel (risk_officer); {system} {'unfrozen' if result.closed['unfrozen'] else 'still frozen'}")
    with ledger.read() as conn:
        view = incidents.get(conn, out.incident_id)
    story.say("timeline: " + " → ".join(e["action"] for e in view.events))


def demo_per_year() -> int | None:
    """People served per survey year: ``GOVFLOW_EMPLOYMENT_PER_YEAR`` (a number, or ``all``), else the demo's sample."""
    text = os.environ.get(PER_YEAR_ENV, "").strip().lower()
    if not text:
        return DEMO_PER_YEAR
    if text == "all":
        return None
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise InputError(f"{PER_YEAR_ENV} must be a positive number of people per survey year, or 'all' (got {text!r})")
    return int(text)


def _quiet_great_expectations() -> None:
    """Great Expectations sets one module's logger to INFO when imported (below the WARNING that
    `govflow.settings` gives its package), and its line about a temporary docs folder would land in the
    middle of the story: set that logger once it exists."""
    import logging

    import great_expectations.data_context.types.base  # noqa: F401 - sets the level we override

    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)


def run_employment_demo(ledger: Ledger, home: Path) -> None:
    """The demo command's entry point (`govflow.demo.credit`)."""
    per_year = demo_per_year()
    typer.secho(f"govflow demo (employment): ledger {ledger.url}, home {home}", bold=True)
    _quiet_great_expectations()
    story = Story(steps=14)
    result = run_story(ledger, home, CONFIGS, per_year=per_year, story=story)
    story.say()
    story.say(f"done in {story.elapsed()}.")
    if result.stopped:
        story.say(f"stopped early: {result.stopped}.")
    story.say("Where to look:")
    story.say(f"  the versions and their gate:  govflow --home {home} trace model employment-screening:1")
    if result.incident is not None:
        story.say(f"  the incident and its timeline: govflow --home {home} incident show {result.incident.incident_id}")
        story.say(f"  the root cause:               govflow --home {home} diff employment-screening:1 employment-screening:2")
    story.say(f"  check nothing was altered:    govflow --home {home} verify")
