"""A completed gate run, recorded the way `govflow run gate` records one, without running the flow.

For tests that need a version gated (to approve, promote or serve it) but test something else: the
gate flow run with its final state, the decision recorded by its task (with the policy it applied),
and the documents stored by its task for the version. Promotion accepts only a decision made by a
gate run that completed with its documents stored (`govflow.governance.registry.gate_runs`); the real flow is tested
in tests/gate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from govflow import canonical as canon
from govflow.checks.policy import Policy
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.ids import new_id
from govflow.governance.ledger.runs import (
    RunRecord,
    add_artifact,
    record_run,
    record_run_end,
    record_run_start,
)
from govflow.governance.registry import versions as registry


def record_completed_gate(ledger: Ledger, version: registry.VersionRef, *, outcome: str = "pass",
                          reasons: Sequence[str] = (), policy: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Gate ``version``: flow run, decision, documents, final state, each through the ledger's writer."""
    flow = RunRecord(run_id=new_id(), kind="flow", name="gate", started_at=canon.utc_now(), state="running",
                     params={"version": str(version)})
    flow = replace(flow, root_run_id=flow.run_id)
    record_run_start(ledger, flow)

    def task(name: str) -> RunRecord:
        return RunRecord(run_id=new_id(), kind="task", name=name, started_at=canon.utc_now(), state="completed",
                         parent_run_id=flow.run_id, root_run_id=flow.run_id, ended_at=canon.utc_now())

    deciding = task("record_gate_decision")
    record_run(ledger, deciding)
    decision = registry.record_decision(ledger, version, outcome=outcome, reasons=list(reasons),
                                        policy=policy if policy is not None else Policy().to_dict(),
                                        run_id=deciding.run_id)
    documenting = task("write_documents")
    with ledger.write("documents.gate", version.id) as w:
        for kind in ("model_card", "annex_iv"):
            add_artifact(w, ledger.artifacts, kind=kind, name=f"{kind}-{version.system}-v{version.version}.md",
                         data=f"# {kind} of {version}\n".encode(), media_type="text/markdown",
                         run_id=documenting.run_id, model_version_id=version.id)
    record_run(ledger, documenting)
    record_run_end(ledger, replace(flow, state="completed", ended_at=canon.utc_now()))
    return decision
