"""The pre-deployment gate: one exact model version, checked against the policy, decided, documented.

Validation, performance and fairness run on the version's own held-out data; a check that errors
blocks (fail closed). The decision (pass or block, each reason, the policy it applied in full) is recorded, then
the documents (model card, datasheets, Annex IV) are generated from the ledger and stored with the
version, and the outcome is published as Prefect artifacts. Promotion later needs this decision to
be a pass for that very version, made by a gate run that completed with its documents stored
(`govflow.governance.registry.gate_runs`), plus the named approvals the policy requires.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pandas as pd
from prefect import flow as prefect_flow
from prefect.states import Failed, State

from govflow.checks.results import SuiteResult
from govflow.errors import InputError
from govflow.flows import run_log, steps
from govflow.flows.models import tabular as modeling
from govflow.flows.recorder import record_flow
from govflow.flows.recording import current_run_id, get_ledger, label_run, link_model_version, task
from govflow.governance.config import GovflowConfig
from govflow.governance.registry import versions as registry
from govflow.governance.registry.policy_in_force import require as require_policy_in_force

BLOCKED = "Blocked"  # the Prefect state of a blocked gate's run: failed (red in the UI), named for what it is
WRONG_SYSTEM = "version {version} belongs to system '{found}', but the config is for '{expected}'; pass the matching -c file"


@dataclass(frozen=True)
class GateOutcome:
    version: str
    outcome: str  # pass | block
    reasons: tuple[str, ...]
    policy_hash: str
    suites: tuple[SuiteResult, ...]
    documents: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "outcome": self.outcome, "reasons": list(self.reasons),
                "policy_hash": self.policy_hash, "documents": list(self.documents)}

    def report(self) -> dict[str, Any]:
        """What `govflow run gate` prints (``--json`` as is; the text from the same keys), with the
        check results without their tables: one form whether the gate ran in the command or in the warm runner."""
        return {**self.to_dict(), "checks": [
            {key: value for key, value in suite.to_dict().items() if key != "tables"} for suite in self.suites]}


@task
def load_version_model(model_version_id: str) -> Any:
    """The exact model bytes registered for the version (their hash is checked on read)."""
    ledger = get_ledger()
    with ledger.read() as conn:
        row = registry.version_row(conn, model_version_id)
    problem = ledger.artifacts.problem(row["artifact_hash"])
    if problem:
        raise InputError(f"cannot load the model of {row['system']}:{row['version']}: {problem}")
    return modeling.load_model(ledger.artifacts.read(row["artifact_hash"]))


@task
def load_version_frame(model_version_id: str, kind: str) -> pd.DataFrame:
    data = registry.attachment(get_ledger(), model_version_id, kind)
    if data is None:
        raise InputError(f"model version {model_version_id} has no stored {kind}; retrain it with `govflow run train`")
    return steps.read_parquet_bytes(data, kind)


@task
def load_version_contract(model_version_id: str) -> dict[str, Any]:
    data = registry.attachment(get_ledger(), model_version_id, "data_contract")
    if data is None:
        raise InputError(f"model version {model_version_id} has no stored data contract; retrain it")
    return dict(json.loads(data))


def describe_failure(result: Any) -> str:
    bound = f" (bound {result.threshold})" if result.threshold is not None else ""
    observed = f"{result.observed:.3f}" if isinstance(result.observed, float) else str(result.observed)
    return f"{result.kind.value}: {result.name} on {result.subject} = {observed}{bound}"


def decide(suites: list[SuiteResult], errors: list[str]) -> tuple[str, list[str]]:
    """Block on any errored check or failed critical result; otherwise pass, noting the findings."""
    reasons = [f"check errored (fail closed): {e}" for e in errors]
    reasons += [describe_failure(r) for suite in suites for r in suite.blocking]
    if reasons:
        return "block", reasons
    notes = [f"{s.kind.value}: all critical results passed ({s.counts()['passed']} passed, "
             f"{s.counts()['not_judged']} not judged)" for s in suites]
    notes += [f"finding: {describe_failure(r) if r.failed else r.kind.value + ': ' + r.name + ' on ' + r.subject + ' not judged'}"
              for s in suites for r in s.findings][:20]
    return "pass", notes


@task
def record_gate_decision(version: str, outcome: str, reasons: list[str], policy: dict[str, Any]) -> dict[str, Any]:
    """The decision, with the policy it applied recorded in full in the same transaction."""
    ledger = get_ledger()
    with ledger.read() as conn:
        ref = registry.resolve(conn, version)
    row = registry.record_decision(ledger, ref, outcome=outcome, reasons=reasons, policy=policy,
                                   run_id=current_run_id())
    return {"decision_id": row["id"], "outcome": outcome, "policy_hash": row["policy_hash"]}


@task
def store_group_table(model_version_id: str, rows: list[dict[str, Any]]) -> str:
    """The per-group fairness table (rates with their intervals), stored with the version for documents."""
    from govflow.canonical import canonical
    from govflow.governance.ledger.runs import add_artifact

    ledger = get_ledger()
    with ledger.write("fairness.table", model_version_id) as w:
        row = add_artifact(w, ledger.artifacts, kind="fairness_by_group", name="fairness_by_group.json",
                           data=canonical(rows), media_type="application/json", run_id=current_run_id(),
                           model_version_id=model_version_id)
    return str(row["content_hash"])


@task
def write_documents(config: GovflowConfig, model_version_id: str) -> list[str]:
    """Model card, datasheets and Annex IV from the ledger, stored with the version."""
    from govflow.governance.reports.documents.store import store_documents

    return store_documents(get_ledger(), model_version_id, current_run_id())


def _run_check(name: str, fn: Any, *args: Any) -> tuple[SuiteResult | None, str | None]:
    try:
        return fn(*args), None
    except Exception as e:  # any error in a check blocks the gate; it is recorded as a failed task
        return None, f"{name}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"


def gate_flow(config_path: str, version: str = "latest") -> GateOutcome:
    """Gate ``version`` (a number, or latest) of the system that ``config_path`` describes.

    Its Prefect run ends Completed on a pass and in a failed state named Blocked on a block (the
    reasons as its message); either way the outcome is returned. An error is raised as it was.
    """
    return outcome_of(gate_run(config_path, version, return_state=True))


def outcome_of(state: State[Any]) -> GateOutcome:
    """The outcome a finished `gate_run` holds (a pass, or a block in its Blocked state); a gate that
    errored raises its error. Shared by `gate_flow` and the warm runner (`govflow.cli.warm_runner`)."""
    if state.is_failed() and state.name == BLOCKED:
        return cast(GateOutcome, state.result(raise_on_failure=False))
    return cast(GateOutcome, state.result())


def _gate(config_path: str, version: str = "latest") -> GateOutcome:
    """The recorded gate (the ledger holds its run, whatever its outcome)."""
    config = steps.load_system_config(Path(config_path).absolute())
    if ":" not in version:
        version = f"{config.system.name}:{version}"
    ledger = get_ledger()
    with ledger.read() as conn:
        ref = registry.resolve(conn, version)
    if ref.system != config.system.name:
        raise InputError(WRONG_SYSTEM.format(version=ref, found=ref.system, expected=config.system.name))
    label_run(f"gate {ref}", ref.system, str(ref))
    link_model_version(ref.id)
    policy = config.policy_model()
    with ledger.read() as conn:  # a changed policy stops here, before any check (governance/registry/policy_in_force.py)
        require_policy_in_force(conn, ref.system, policy.to_dict(), source=config_path)
    model = load_version_model(ref.id)
    holdout = load_version_frame(ref.id, "holdout_data")
    contract = load_version_contract(ref.id)
    suites, errors = [], []
    for name, fn, args in (("validation", steps.validate_data, (holdout, contract)),
                           ("performance", steps.evaluate_model, (config, model, holdout)),
                           ("fairness", steps.assess_model_fairness, (config, model, holdout))):
        suite, error = _run_check(name, fn, *args)
        if suite is not None:
            suites.append(suite)
        if error:
            errors.append(error)
    outcome, reasons = decide(suites, errors)
    _log_decision(str(ref), outcome, reasons, suites)
    fairness = next((suite for suite in suites if suite.kind.value == "fairness"), None)
    if fairness is not None:
        store_group_table(ref.id, list(fairness.tables.get("by_group", ())))
    record_gate_decision(str(ref), outcome, reasons, policy.to_dict())
    try:
        documents = write_documents(config, ref.id)
    except Exception as e:
        reasons = [*reasons, f"documents could not be generated (fail closed): {type(e).__name__}: {e}"]
        record_gate_decision(str(ref), "block", reasons, policy.to_dict())
        raise
    _publish(str(ref), outcome, reasons, policy.hash(), suites, _document_links(ref.id, documents))
    return GateOutcome(version=str(ref), outcome=outcome, reasons=tuple(reasons), policy_hash=policy.hash(),
                       suites=tuple(suites), documents=tuple(documents))


def _log_decision(version: str, outcome: str, reasons: list[str], suites: list[SuiteResult]) -> None:
    """The decision in the run's Logs tab: each suite's counts, the outcome, then each reason."""
    for suite in suites:
        counts = suite.counts()
        run_log.log_step(f"{suite.kind.value} checked", {"passed": counts["passed"], "failed": counts["failed"],
                                                         "not_judged": counts["not_judged"]})
    level = logging.WARNING if outcome == "block" else logging.INFO
    run_log.log_step(f"gate {outcome.upper()}", {"version": version, "reasons": len(reasons)}, level=level)
    for reason in reasons:
        run_log.log_step("reason" if outcome == "block" else "note", {"text": reason}, level=level)


_recorded_gate = record_flow(_gate, "gate")


@prefect_flow(name="gate")
def gate_run(config_path: str, version: str = "latest") -> GateOutcome | State[GateOutcome]:
    """The Prefect flow: the recorded gate, its run failed (state Blocked) when the gate blocks."""
    outcome = _recorded_gate(config_path, version)
    if outcome.outcome == "block":
        return Failed(name=BLOCKED, message=f"{outcome.version} BLOCKED: " + "; ".join(outcome.reasons), data=outcome)
    return outcome


def _document_links(model_version_id: str, names: list[str]) -> list[tuple[str, str]]:
    """(name, file URI in the artifact store) of each document the gate wrote, HTML first."""
    from govflow.governance.reports.documents.store import current

    ledger = get_ledger()
    with ledger.read() as conn:
        stored = current(conn, model_version_id)
    ordered = sorted(names, key=lambda name: (not name.endswith(".html"), names.index(name)))
    return [(name, ledger.artifacts.path(stored[name]["content_hash"]).resolve().as_uri())
            for name in ordered if name in stored]


def _publish(version: str, outcome: str, reasons: list[str], policy_hash: str, suites: list[SuiteResult],
             documents: list[tuple[str, str]]) -> None:
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    lines = [f"# Gate decision for {version}: **{outcome.upper()}**", "", f"policy hash `{policy_hash}`", ""]
    lines += [f"* {r}" for r in reasons]
    if documents:
        lines += ["", "## Documents written by this gate", ""]
        lines += [f"* [{name}]({uri})" for name, uri in documents]
        lines += ["", f"(`govflow docs {version} --out DIR` writes them under readable names)"]
    create_markdown_artifact(markdown="\n".join(lines), key="govflow-gate-decision",
                             description=f"gate decision for {version}")
    fairness = next((s for s in suites if s.kind.value == "fairness"), None)
    if fairness is not None and fairness.tables.get("by_group"):
        create_table_artifact(table=[dict(row) for row in fairness.tables["by_group"]],
                              key="govflow-fairness-by-group", description="fairness by group (held-out data)")
