"""`govflow demo`: the credit-scoring story, as it really happens on the bundled German credit data.

Train a candidate, gate it against the policy, and where the gate blocks, train a mitigated version
and gate it in turn; record the humans' approvals or rejections; try to promote; verify the ledger.
Nothing is tuned for the story: the policy is the documented default, the data is the real data,
and whatever the gate decides is what the demo shows. The first gate decision puts that policy in
force (a ledger record, #16); the risk officer signs his decision with an SSH key generated into the
demo's home (`govflow.demo.signing`), and the final `verify` checks that signature.
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


def show_policy_in_force(ledger: Any, story: Story, system: str, applied: str, first: bool) -> None:
    """The policy in force after a gate decision (a ledger record, #16): who put it there, and since when."""
    from govflow.canonical import format_ts
    from govflow.governance.registry.policy_in_force import FIRST_GATE, in_force

    with ledger.read() as conn:
        current = in_force(conn, system)
    if current is None:
        return
    how = (f"recorded by the system's first gate decision at {format_ts(current.approved_at)[:19]}Z ({current.approver})"
           if current.role == FIRST_GATE else f"put in force by {current.who()}: {current.reason}")
    same = "this gate applied it" if current.policy_hash == applied else "this gate applied ANOTHER policy"
    if first:
        story.say(f"policy in force: {current.policy_hash[:12]}, {how}; {same}. From now on a gate whose config "
                  "differs stops until the risk officer records the change (`govflow policy approve`)")
    else:
        story.say(f"policy in force: {current.policy_hash[:12]}, unchanged; {same} (`govflow policy history {system}`)")


def run_credit_demo(ledger: Any, story: Story, home: Path | None = None) -> Any:
    """The credit story; with ``home``, on copies of the configs whose risk officer signs (`govflow.demo.signing`)."""
    from govflow.demo.signing import prepare_signing
    from govflow.flows.gate import gate_flow
    from govflow.flows.train import train_flow

    sources = tuple(DATA / name for name in CONFIGS["credit"])
    signing = None if home is None else prepare_signing(home, sources)
    plain, mitigated = (str(p) for p in (signing.configs if signing else sources))
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
        show_policy_in_force(ledger, story, trained.version.rsplit(":", 1)[0], outcome.policy_hash, not gated)
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
        key = signing.key if signing is not None and role == "risk_officer" else None
        row = registry.approve(ledger, version, approver=name, role=role, reason=reason, reject=reject,
                               required_roles=roles, sign_with=key)
        signed = f", signed with SSH key {row['signed_by']}" if row.get("signed_by") else ""
        story.say(f"{'rejected' if reject else 'approved'} by {name} ({role}, OS user {row['os_user']}{signed}): {reason}")
        if role == "risk_officer" and signing is not None:
            story.say(f"  the signature covers the decision and the evidence hash; {signing.allowed_signers} says who may sign"
                      if key is not None else f"  {signing.why}")
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
    return signing


def show_signatures(ledger: Any, story: Story, report: Any) -> None:
    """How many approvals are signed, and that verify checked each against its key."""
    from sqlalchemy import select

    from govflow.governance.ledger.schema import ApprovalSignature

    with ledger.read() as conn:
        signed = conn.execute(select(ApprovalSignature.principal)).scalars().all()
    if not signed:
        story.say("no signed approval to check")
        return
    bad = [f for f in report.findings if "signature" in str(f)]
    story.say(f"{len(signed)} signed approval(s) ({', '.join(sorted(set(signed)))}) checked with ssh-keygen -Y verify: "
              + ("the signature holds" if not bad else f"{len(bad)} do NOT hold"))


def run_demo(ledger: Any, home: Path, scenario: str, progress: Callable[[str], None] | None = None) -> None:
    from govflow.governance.ledger.verify import verify

    story = Story(steps=9)
    typer.secho(f"govflow demo ({scenario}): ledger {ledger.url}, home {home}", bold=True)
    signing = run_credit_demo(ledger, story, home)
    story.begin("verify the ledger end to end")
    report = verify(ledger)
    story.say(f"{'intact' if report.intact else 'TAMPERED'}: {report.entries} chained entries, {report.rows} rows, "
              f"{report.artifacts} stored files re-hashed; head {report.head_seq} {report.head_hash[:16]}...")
    show_signatures(ledger, story, report)
    story.say()
    story.say(f"done in {story.elapsed()}. Where to look:")
    story.say(f"  documents (model card, datasheets, Annex IV): {home / 'artifacts'} — listed by `govflow trace model credit-scoring:latest`")
    story.say("  the lineage of a version:  govflow trace model credit-scoring:1")
    story.say("  check nothing was altered: govflow verify   (it checks the signed approval too)")
    story.say("  the policy in force:       govflow policy history credit-scoring")
    if signing is not None:
        story.say(f"  the demo's configs, key and allowed signers: {signing.folder}")
    story.say("  run history in a browser:  govflow ui   (then run the demo again: runs appear in the Prefect UI)")
