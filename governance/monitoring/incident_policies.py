"""The policies behind an incident, for its root cause and its notification (#16 item 1).

An incident involves two kinds of decision, each made under a policy of its own: the gate decision
that let the implicated version go live (the policy it applied, and who had put that policy in force),
and the monitoring judgements that raised the alerts (the policy in force when monitoring ran, recorded
on the incident's ``opened`` and ``alert`` events by `govflow.flows.monitor_system`). Both are read
back from the ledger, never from the config file as it is now, with the system's whole policy
history (`govflow.governance.registry.policy_in_force.history`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from govflow import canonical as canon
from govflow.governance.monitoring.incidents import IncidentView
from govflow.governance.registry import policies
from govflow.governance.registry import versions as registry
from govflow.governance.registry.policy_in_force import history, history_lines, history_records


def incident_policies(conn: Connection, view: IncidentView) -> dict[str, Any]:
    """``{"gate", "monitoring", "history", "history_lines"}`` of an incident (JSON-safe; see the module docstring)."""
    gate = None
    if view.model_version_id is not None:
        decision = registry.latest_decision(conn, view.model_version_id)
        found = policies.applied(conn, view.system, decision, view.version)
        gate = None if found is None else {"version": view.version, "policy_hash": found.policy_hash,
                                           "put_in_force": found.put_in_force}
    judged: dict[str, dict[str, Any]] = {}
    for event in view.events:
        policy = (event.get("details") or {}).get("policy")
        if isinstance(policy, dict) and policy.get("policy_hash"):
            judged.setdefault(policy["policy_hash"], {**policy, "first_at": canon.format_ts(event["at"])})
    items = history(conn, view.system)
    return {"gate": gate, "monitoring": list(judged.values()), "history": history_records(items),
            "history_lines": history_lines(items)}


def policy_lines(found: dict[str, Any]) -> list[str]:
    """The policies of `incident_policies` as lines: the gate's, monitoring's, then the history."""
    lines = []
    gate = found.get("gate")
    if gate:
        who = f", put in force by {gate['put_in_force']}" if gate.get("put_in_force") else " (not recorded as put in force)"
        lines.append(f"gate decision of {gate['version']} applied policy {gate['policy_hash'][:12]}{who}")
    for judged in found.get("monitoring", []):
        lines.append(f"monitoring judged the alerts by {judged['cited']}")
        if judged.get("warning"):
            lines.append(f"monitoring warned: {judged['warning']}")
    lines += [f"policy history: {line}" for line in found.get("history_lines", [])]
    return lines
