"""`govflow demo --scenario employment`: the post-deployment story on real data (ACS employment, Massachusetts).

The whole story, as `run_story` runs it, step by step, every step recorded:

1. train version 1 on survey year 2015 (data/employment.govflow.yaml) and gate it;
2. two named approvals, promotion;
3. train version 2 (data/employment-v2.govflow.yaml: the sensitive attributes given to the model as
   features), gate, approvals, promotion;
4. production, replayed: the survey years 2016, 2017 and 2018 (analysis_2016_2018.parquet) are served
   as three consecutive monitoring windows of the config's ``monitoring.window`` (7 days), the last
   three before today: 2016 by version 1, 2017 and 2018 by version 2. Each row is validated against
   the production version's input schema, scored and logged (`governance.predictions`) with its
   replayed ``served_at``;
5. monitoring before any outcome is known: data and prediction drift per window;
6. the outcomes arrive (analysis_2016_2018_target.parquet, joined on ``id`` through the logged
   subject ids: `govflow outcomes`);
7. monitoring again: performance and fairness per SEX and RAC1P, per window;
8. the incident: opened by the monitor's alert, or, when monitoring raised none, reported by hand
   (the demo says which); the playbook freezes the system, suspends the implicated version 2, rolls
   back to version 1, measures the impact, diffs the versions and drafts the Art. 73 notification;
9. a promotion refused while frozen; the incident closed with a named approval; `verify`.

Nothing is tuned for the story. The policy is govflow's documented default, the data is the real
data, and whatever the gate and the monitor find is what the demo shows. Under that policy the real
gate BLOCKS version 1 (its decisions differ too much between RAC1P groups), so no version can reach
production and the demo stops there and says so: the rest of the story needs a version in production.
The tests run the whole story on a copy of the configs with a relaxed policy, stated as such
(tests/monitoring/employment-relaxed.govflow.yaml).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import typer
from sqlalchemy import select

from checks.errors import ComplianceBlocked, InputError
from flows.demo import Story, show_fairness
from governance import canonical as canon
from governance import registry
from governance.ledger import Ledger
from governance.schema import ModelVersion

DATA = Path(__file__).resolve().parent.parent / "data"
CONFIGS = (DATA / "employment.govflow.yaml", DATA / "employment-v2.govflow.yaml")
ANALYSIS = DATA / "acs_employment_ma" / "analysis_2016_2018.parquet"
TARGETS = DATA / "acs_employment_ma" / "analysis_2016_2018_target.parquet"
YEARS = (2016, 2017, 2018)
SERVED_BY = {2016: 0, 2017: 1, 2018: 1}  # index into the trained versions: 2016 by v1, later years by v2
# The demo serves a deterministic sample of 20,000 people per survey year (seed 0), 60,000 of the 208,892,
# to stay within about two minutes on two cores; `run_story(per_year=None)` serves every row (about
# 2.5 minutes end to end on the same machine).
DEMO_PER_YEAR = 20_000
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

    The same path as ``govflow serve`` and ``govflow run score`` (`flows.serving`, `governance.predictions`),
    with the serving time given: the way to replay past traffic. Returns the prediction ids.
    """
    from flows.serving import check_input, load_production
    from governance import predictions as preds

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


def _named(feature: str, group: str) -> str:
    names = SEX if feature == "SEX" else RAC1P if feature == "RAC1P" else {}
    return f"{group} {names[group]}" if group in names else group


def show_monitoring(story: Story, outcome: Any) -> None:
    from flows.cli_monitor import report_lines

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
    for alert in outcome.alerts:
        story.say(f"ALERT {alert.check} for {alert.version} in window {alert.window['start'][:10]}: "
                  + "; ".join(alert.findings[:3]))
    if not outcome.alerts:
        story.say("no alert: every critical result within the policy")


def _approve(ledger: Ledger, story: Story, version: str) -> None:
    for name, role in APPROVERS:
        row = registry.approve(ledger, version, approver=name, role=role, required_roles=[r for _, r in APPROVERS],
                               reason="gate passed; model card, fairness results and monitoring plan reviewed")
        story.say(f"approved by {name} ({role}, OS user {row['os_user']})")


def _train_and_gate(story: Story, config_path: Path, label: str) -> tuple[str, Any]:
    from flows.gate import gate_flow
    from flows.train import train_flow

    story.begin(f"train {label}")
    trained = train_flow(str(config_path))
    story.say(f"registered {trained.version} (training data validated: {'passed' if trained.validation.passed else 'FAILED'}; "
              f"held-out performance: {'passed' if trained.performance.passed else 'below the policy'})")
    story.begin(f"pre-deployment gate for {trained.version}")
    outcome = gate_flow(str(config_path), trained.version.rsplit(":", 1)[1])
    show_fairness(story, outcome, selection="share predicted employed")
    story.say(f"decision: {outcome.outcome.upper()} (policy {outcome.policy_hash[:12]})")
    for reason in outcome.reasons[:6]:
        story.say(f"  - {reason}")
    return trained.version, outcome


def run_story(ledger: Ledger, home: Path, configs: tuple[Path, Path] = CONFIGS, per_year: int | None = None,
              story: Story | None = None) -> StoryResult:
    """The employment story (see the module doc); stops, saying why, where the real result allows no more."""
    from flows.incident import incident_flow
    from flows.monitor import monitor_flow, outcomes_flow
    from governance import incidents
    from governance.config import load_config
    from governance.verify import append_head, verify

    story = story or Story(steps=14)
    result = StoryResult()
    config = load_config(configs[0])
    system = config.system.name
    with ledger.read() as conn:
        count = len(conn.execute(select(ModelVersion.id).where(ModelVersion.system == system)).all())
    if count:
        raise InputError(FRESH_LEDGER.format(system=system, count=count))

    for config_path, label in ((configs[0], "version 1: logistic regression, sensitive attributes kept out of the model"),
                               (configs[1], "version 2: the same, with SEX and RAC1P given to the model as features")):
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
                          "demo go on; that is a decision for the risk officer, recorded in the config and its hash.")
                story.say("the tests run the rest of the story on a copy with a relaxed policy, stated as such "
                          "(tests/monitoring/employment-relaxed.govflow.yaml).")
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
    append_head(home, ledger.ledger_id(), report.head_seq, report.head_hash)
    result.verified = report.intact
    story.say(f"{'intact' if report.intact else 'TAMPERED'}: {report.entries} chained entries, {report.rows} rows, "
              f"{report.artifacts} stored files re-hashed; head {report.head_seq} {report.head_hash[:16]}...")
    return result


def _production(ledger: Ledger, home: Path, story: Story, result: StoryResult, configs: tuple[Path, Path],
                per_year: int | None, monitor_flow: Any, outcomes_flow: Any, incident_flow: Any, incidents: Any) -> None:
    from governance.config import load_config
    from governance.monitoring import parse_window

    config = load_config(configs[0])
    system, size = config.system.name, parse_window(config.monitoring.window)
    story.begin("production, replayed: survey years 2016, 2017, 2018 served as three consecutive windows")
    rows = production_sample(per_year)
    sample = "all rows" if per_year is None else f"a deterministic sample of {per_year} rows per year (seed 0)"
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
    incident_id = (second.incident or first.incident or {}).get("incident_id")
    if incident_id:
        result.incident_source = "monitoring alert"
        story.say(f"the monitor opened incident {incident_id} from its alert; the playbook runs on it")
        out = incident_flow(str(configs[-1]), "", "malfunction", None, None, incident_id, None)
    else:
        result.incident_source = "reported by hand"
        reason = (f"internal audit: {implicated} takes the protected attributes SEX and RAC1P as model inputs in an "
                  "employment screening decision; monitoring raised no alert, the audit finding is reported as an incident")
        story.say("monitoring raised no alert; the incident is reported by hand, from an audit finding:")
        story.say(f"  {reason}")
        out = incident_flow(str(configs[-1]), reason, "fundamental_rights", None, implicated, None, None)
    result.incident = out
    story.say(f"incident {out.incident_id} ({out.kind}); Art. 73 report due {out.report_due_at}")
    rb = out.rollback
    story.say(f"frozen; suspended {rb.get('suspended')}; "
              + (f"serving rolled back to {rb['restored']}" if rb.get("restored") else "serving stopped (no compliant earlier version)"))
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


def run_employment_demo(ledger: Ledger, home: Path) -> None:
    """The demo command's entry point (`flows.demo`)."""
    typer.secho(f"govflow demo (employment): ledger {ledger.url}, home {home}", bold=True)
    story = Story(steps=14)
    result = run_story(ledger, home, CONFIGS, per_year=DEMO_PER_YEAR, story=story)
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
