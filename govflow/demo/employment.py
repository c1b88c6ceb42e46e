"""`govflow demo --scenario employment`: the post-deployment story on real data (ACS employment, Massachusetts).

Nothing is tuned for the story. The policy is govflow's documented default (written out in the
configs), the data is the real data, and whatever the gate and the monitor find is what the demo
shows. The whole story, as `run_story` runs it, step by step, every step recorded (steps 4 to 9
in `govflow.demo.employment_production`):

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
from pathlib import Path
from typing import Any

import typer
from sqlalchemy import select

from govflow.demo.employment_production import (  # serve_rows, PER_YEAR_ENV, YEARS: re-exported for tests
    APPROVERS,
    DATA,
    PER_YEAR_ENV,
    RAC1P,
    YEARS,
    StoryResult,
    run_production,
    serve_rows,
)
from govflow.demo.story import Story, show_fairness
from govflow.errors import ComplianceBlocked, InputError
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import ModelVersion
from govflow.governance.registry import versions as registry

__all__ = ["CONFIGS", "DEMO_PER_YEAR", "PER_YEAR_ENV", "YEARS", "StoryResult", "demo_per_year",
           "run_employment_demo", "run_story", "serve_rows"]

CONFIGS = (DATA / "employment.govflow.yaml", DATA / "employment-v2.govflow.yaml")
# The demo serves a deterministic sample of 20,000 people per survey year (seed 0), 60,000 of the 208,892:
# 2.6 to 3.4 minutes end to end on a two-core machine shared with other work (about 40 s more serving
# every row), most of it the two mitigated trainings. GOVFLOW_EMPLOYMENT_PER_YEAR sets another size, or `all`.
DEMO_PER_YEAR = 20_000
FRESH_LEDGER = ("the employment demo tells its story on a ledger without {system}: this one already holds "
                "{count} version(s) of it. Run it with a new home, e.g. `govflow --home /tmp/employment-demo "
                "demo --scenario employment`")


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
    from govflow.governance.config import load_config
    from govflow.governance.ledger.verify import verify

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
        run_production(ledger, home, story, result, configs, per_year)
    story.begin("verify the ledger end to end")
    report = verify(ledger)
    result.verified = report.intact
    story.say(f"{'intact' if report.intact else 'TAMPERED'}: {report.entries} chained entries, {report.rows} rows, "
              f"{report.artifacts} stored files re-hashed; head {report.head_seq} {report.head_hash[:16]}...")
    return result

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
