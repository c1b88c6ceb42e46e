"""`govflow demo`: the credit-scoring story, as it really happens on the bundled German credit data.

Train a candidate, gate it against the policy, and where the gate blocks, train a mitigated version
and gate it in turn; record the humans' approvals or rejections; try to promote; verify the ledger.
Nothing is tuned for the story: the policy is the documented default, the data is the real data,
and whatever the gate decides is what the demo shows.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from govflow.demo.story import Story, show_fairness
from govflow.errors import ComplianceBlocked
from govflow.governance.registry import versions as registry

DATA = Path(__file__).resolve().parents[2] / "data"
CONFIGS = {"credit": ("credit-scoring.govflow.yaml", "credit-scoring-mitigated.govflow.yaml")}


def show_gap(ledger: Any, story: Story, config_path: str, version: str | None, title: str) -> None:
    """A recorded gap analysis against the EU AI Act catalogue, summarised."""
    from govflow.governance.reports.gap import gap_summary

    story.begin(f"gap analysis, {title}")
    _, lines = gap_summary(ledger, config_path, version=version, plan=4)
    for line in lines:
        story.say(line)


def run_credit_demo(ledger: Any, story: Story) -> None:
    from govflow.flows.gate import gate_flow
    from govflow.flows.train import train_flow
    from govflow.governance.registry.policy_in_force import in_force

    plain, mitigated = (str(DATA / name) for name in CONFIGS["credit"])
    gated: list[tuple[str, Any]] = []
    show_gap(ledger, story, plain, None, "before any model exists: what the EU AI Act asks of this system")
    for config_path, label in ((plain, "a logistic regression, no mitigation"),
                               (mitigated, "the same model with bias mitigation (fairlearn ExponentiatedGradient, equalized odds)")):
        story.begin(f"train a candidate: {label}")
        trained = train_flow(config_path)
        story.say(f"registered {trained.version} as candidate; training data validated against its inferred contract "
                  f"({'passed' if trained.validation.passed else 'FAILED'})")
        story.begin(f"pre-deployment gate for {trained.version}")
        outcome = gate_flow(config_path, trained.version.rsplit(":", 1)[1])
        show_fairness(story, outcome)
        story.say(f"decision: {outcome.outcome.upper()} (policy {outcome.policy_hash[:12]})")
        with ledger.read() as conn:  # the policy in force is a ledger record (#16): its first gate put it there
            current = in_force(conn, trained.version.rsplit(":", 1)[0])
        if current is not None:
            story.say(f"policy in force: {current.policy_hash[:12]}, by {current.who()}; a change needs "
                      "`govflow policy approve` by the risk officer (`govflow policy history credit-scoring`)")
        for reason in outcome.reasons[:6]:
            story.say(f"  - {reason}")
        gated.append((trained.version, outcome))
        if outcome.outcome == "pass":
            break
    version, outcome = gated[-1]
    roles = ["model_owner", "risk_officer"]
    story.begin(f"named human oversight for {version}")
    if outcome.outcome == "pass":
        decisions = [("Dana Meyer", "model_owner", False, "model card and fairness results reviewed"),
                     ("Ravi Patel", "risk_officer", False, "within the fairness policy; monitoring plan agreed")]
    else:
        decisions = [("Dana Meyer", "model_owner", False, "mitigation narrows the gap; asking risk for a decision"),
                     ("Ravi Patel", "risk_officer", True, "the gate blocked it: the fairness gap is above the policy's bound")]
    for name, role, reject, reason in decisions:
        row = registry.approve(ledger, version, approver=name, role=role, reason=reason, reject=reject,
                               required_roles=roles)
        story.say(f"{'rejected' if reject else 'approved'} by {name} ({role}, OS user {row['os_user']}): {reason}")
    show_gap(ledger, story, plain, version.rsplit(":", 1)[1],
             f"after the gate and the humans' decisions: what is satisfied for {version}, what remains")
    story.begin(f"promote {version} to production")
    try:
        from govflow.governance.reports.documents.store import store_documents

        promoted = registry.promote(ledger, version, by=registry.os_user(), required_roles=roles)
        store_documents(ledger, promoted.id, None, occasion="promotion")
        story.say(f"{version} is in production; it was the only way in: gate passed, both roles approved")
    except ComplianceBlocked as refused:
        story.say(f"refused, as it must be: {refused}")
        story.say("approvals do not override the gate. Options for the team: more data for the small groups, "
                  "another model, or a policy change decided (and recorded) by the risk officer, never by the tool.")


def run_demo(ledger: Any, home: Path, scenario: str, progress: Callable[[str], None] | None = None) -> None:
    from govflow.governance.ledger.verify import verify

    story = Story(steps=9)
    typer.secho(f"govflow demo ({scenario}): ledger {ledger.url}, home {home}", bold=True)
    run_credit_demo(ledger, story)
    story.begin("verify the ledger end to end")
    report = verify(ledger)
    story.say(f"{'intact' if report.intact else 'TAMPERED'}: {report.entries} chained entries, {report.rows} rows, "
              f"{report.artifacts} stored files re-hashed; head {report.head_seq} {report.head_hash[:16]}...")
    story.say()
    story.say(f"done in {story.elapsed()}. Where to look:")
    story.say(f"  documents (model card, datasheets, Annex IV): {home / 'artifacts'} — listed by `govflow trace model credit-scoring:latest`")
    story.say("  the lineage of a version:  govflow trace model credit-scoring:1")
    story.say("  check nothing was altered: govflow verify")
    story.say("  run history in a browser:  govflow ui   (then run the demo again: runs appear in the Prefect UI)")
