"""The incident response flow: the playbook of `govflow.governance.monitoring.incidents`, every step a recorded task.

``govflow run incident -c govflow.yaml --reason TEXT [--kind KIND]`` opens an incident by hand and
runs the playbook; the deployment triggered by ``govflow.monitoring.alert`` runs it for the incident
the monitor opened (``incident_id``). Steps, in order, each appending to the incident's timeline:

1. open (by hand) or take the incident, and record the response plan of the config on it (duties,
who is called, the authority, whether Art. 73 reporting applies); 2. freeze the system; 3. suspend the implicated version and
roll serving back to the last compliant version, or stop serving; 4. impact: decisions per group by
the implicated version in the alert's window (else over the whole time it served); 5. root cause:
``govflow diff`` of the implicated version against the one serving now (else the one before it), and
the policy each decision used: the implicated version's gate decision, the monitoring alerts, and the
system's policy history (`govflow.governance.monitoring.incident_policies`);
6. the draft notification (Art. 73) and the internal and external communication drafts, stored as
artifacts (kinds ``incident_notice`` and ``communication``) linked to the implicated version; 7. the
implicated version's documents written anew (its stage changed), superseding the earlier editions.
The report itself is recorded when it is sent: ``govflow incident notify`` (a draft is not a report).

Re-running the flow on the same incident is safe: freezing and suspending are idempotent, and the
later impact, diff and documents supersede the earlier ones in the timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from govflow import canonical as canon
from govflow.errors import InputError
from govflow.flows import steps
from govflow.flows.recording import current_run_id, flow, get_ledger, link_model_version, task
from govflow.governance.config import GovflowConfig
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import AuditEntry, ModelVersion
from govflow.governance.monitoring import incidents, reporting
from govflow.governance.monitoring.response_plan import ResponsePlan
from govflow.governance.registry import versions as registry


@dataclass(frozen=True)
class IncidentOutcome:
    incident_id: str
    system: str
    version: str | None
    kind: str
    report_due_at: str
    rollback: dict[str, Any]
    impact: dict[str, Any] | None
    root_cause: tuple[str, ...]
    documents: tuple[str, ...]
    timeline: tuple[dict[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        return {"incident_id": self.incident_id, "system": self.system, "version": self.version, "kind": self.kind,
                "report_due_at": self.report_due_at, "rollback": self.rollback, "impact": self.impact,
                "root_cause": list(self.root_cause), "documents": list(self.documents),
                "timeline": [dict(e) for e in self.timeline]}


def actor() -> str:
    return f"govflow incident flow ({registry.os_user()})"


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"--aware-at '{text}': write an RFC 3339 time, e.g. 2025-03-01T09:00:00Z") from None
    if moment.tzinfo is None:
        raise InputError(f"--aware-at '{text}': give the time zone, e.g. 2025-03-01T09:00:00Z")
    return moment


# -- plain functions ---------------------------------------------------------------------------

def impact_window(view: incidents.IncidentView, conn: Any) -> tuple[datetime | None, datetime | None, str]:
    """The alert's window when the monitor opened the incident, else the whole time the version served."""
    return reporting.window(conn, view)


def compared_version(conn: Any, view: incidents.IncidentView, rollback: dict[str, Any]) -> str | None:
    """What to diff the implicated version against: the version serving now, else the one before it."""
    if rollback.get("restored"):
        return str(rollback["restored"])
    serving = registry.production_version(conn, view.system)
    if serving is not None and serving.id != view.model_version_id:
        return str(serving)
    number = conn.execute(select(ModelVersion.version).where(ModelVersion.id == view.model_version_id)).scalar()
    earlier = conn.execute(select(ModelVersion.version).where(ModelVersion.system == view.system,
                                                              ModelVersion.version < number)
                           .order_by(ModelVersion.version.desc()).limit(1)).scalar()
    return None if earlier is None else f"{view.system}:{earlier}"


def gather_facts(ledger: Ledger, incident_id: str, rollback: dict[str, Any] | None, impact: dict[str, Any] | None,
                 root_cause: list[str], compared: str | None, policies: dict[str, Any] | None = None) -> Any:
    import json

    from govflow.governance.reports.documents.incident_notice import IncidentFacts

    with ledger.read() as conn:
        view = incidents.get(conn, incident_id)
        system: dict[str, Any] = {"name": view.system}
        if view.model_version_id:
            snapshot = json.loads(registry.version_row(conn, view.model_version_id)["config_snapshot"])
            system = dict(snapshot.get("system", system))
        head = conn.execute(select(AuditEntry.seq, AuditEntry.entry_hash).order_by(AuditEntry.seq.desc()).limit(1)).one()
    return IncidentFacts(incident=view.to_dict(), system=system, rollback=rollback, impact=impact,
                         root_cause=root_cause, compared=compared, policies=policies,
                         chain_head=(int(head[0]), str(head[1])),
                         generated_at=canon.utc_now())


# -- recorded tasks ----------------------------------------------------------------------------

@task
def open_reported_incident(config: GovflowConfig, reason: str, kind: str, severity: str | None, version: str | None,
                           aware_at: str | None) -> str:
    """Open an incident reported by a person; implicates ``version`` (default: the version in production)."""
    ledger = get_ledger()
    system = config.system.name
    ref: registry.VersionRef | None
    with ledger.read() as conn:
        if version:
            ref = registry.resolve(conn, version if ":" in version else f"{system}:{version}")
            if ref.system != system:
                raise InputError(f"version {ref} is not a version of {system}")
        else:
            ref = registry.production_version(conn, system)
    view = incidents.open_incident(ledger, system=system, kind=kind, summary=reason, by=registry.os_user(),
                                   model_version_id=ref.id if ref else None, severity=severity,
                                   aware_at=parse_time(aware_at), run_id=current_run_id(),
                                   details={"reported_by": registry.os_user(), "source": "govflow run incident"},
                                   plan=ResponsePlan.from_config(config))
    return view.id


@task
def apply_response_plan(config: GovflowConfig, incident_id: str) -> dict[str, Any]:
    """Record the response plan in the config on the incident: duties, who is called, the authority, reportable."""
    view = incidents.apply_plan(get_ledger(), incident_id, ResponsePlan.from_config(config), actor())
    recorded = view.event("response_plan") or {"details": {}}
    return dict(recorded["details"])


@task
def freeze_system(incident_id: str) -> dict[str, Any]:
    """Freeze the system: no promotion or retraining release while the incident is open."""
    return incidents.freeze(get_ledger(), incident_id, actor())


@task
def contain(incident_id: str) -> dict[str, Any]:
    """Suspend the implicated version; roll serving back to the last compliant version, or stop it."""
    return incidents.suspend_and_roll_back(get_ledger(), incident_id, actor())


@task
def assess_impact(incident_id: str) -> dict[str, Any] | None:
    """Decisions per sensitive group made by the implicated version in the window."""
    ledger = get_ledger()
    with ledger.read() as conn:
        view = incidents.get(conn, incident_id)
        if view.model_version_id is None:
            return None
        start, end, scope = impact_window(view, conn)
        positive = 1
        snapshot = registry.version_row(conn, view.model_version_id)["config_snapshot"]
    import json

    positive = json.loads(snapshot).get("data", {}).get("positive_label", positive)
    with ledger.read() as conn:
        found = incidents.impact(conn, view.model_version_id, start=start, end=end, positive_label=positive).to_dict()
    found["scope"] = scope
    summary = {k: v for k, v in found.items() if k != "by_group"}
    incidents.record_event(ledger, incident_id, "impact_assessed", actor(), {**summary, "by_group": found["by_group"]})
    return found


@task
def find_root_cause(incident_id: str, rollback: dict[str, Any]) -> dict[str, Any]:
    """``govflow diff`` of the implicated version against the one serving now (or the one before it),
    and the policies behind the incident: the gate's, monitoring's, and the system's policy history."""
    from govflow.governance.ledger.runs import add_artifact
    from govflow.governance.lineage.diff import diff_versions, render_text
    from govflow.governance.monitoring.incident_policies import incident_policies, policy_lines

    ledger = get_ledger()
    with ledger.read() as conn:
        view = incidents.get(conn, incident_id)
        other = compared_version(conn, view, rollback) if view.model_version_id else None
        policies = incident_policies(conn, view)
    if view.version is None or other is None:
        incidents.record_event(ledger, incident_id, "root_cause", actor(),
                               {"note": "nothing to compare: no implicated version, or no other version",
                                "policies": policies})
        return {"compared": None, "headline": policy_lines(policies), "diff": [], "policies": policies}
    found = diff_versions(ledger, other, view.version)
    import json

    headline = found.headline() + policy_lines(policies)
    with ledger.write("incident.root_cause", incident_id) as w:
        text = add_artifact(w, ledger.artifacts, kind="diff_report", name=f"diff-{other}-{view.version}.txt".replace(":", "-v"),
                            data=render_text(found).encode("utf-8"), media_type="text/plain", run_id=current_run_id(),
                            model_version_id=view.model_version_id)
        data = add_artifact(w, ledger.artifacts, kind="diff_report", name=f"diff-{other}-{view.version}.json".replace(":", "-v"),
                            data=json.dumps(found.to_dict(), sort_keys=True, indent=1, default=str).encode("utf-8"),
                            media_type="application/json", run_id=current_run_id(), model_version_id=view.model_version_id)
        incidents.add_event(w, incident_id, "root_cause", actor(), {
            "compared": f"{other} -> {view.version}", "headline": headline, "policies": policies,
            "artifacts": [text["content_hash"], data["content_hash"]]})
    return {"compared": f"{other} -> {view.version}", "headline": headline, "diff": found.headline(), "policies": policies}


@task
def draft_documents(incident_id: str, rollback: dict[str, Any], impact: dict[str, Any] | None,
                    root_cause: dict[str, Any]) -> list[str]:
    """The draft Art. 73 notification and the communication drafts, stored as artifacts."""
    from govflow.governance.ledger.runs import add_artifact
    from govflow.governance.reports.documents.incident_notice import render_incident_documents

    ledger = get_ledger()
    facts = gather_facts(ledger, incident_id, rollback, impact, list(root_cause.get("diff", root_cause.get("headline", []))),
                         root_cause.get("compared"), root_cause.get("policies"))
    documents = render_incident_documents(facts)
    names, hashes = [], []
    with ledger.write("incident.documents", incident_id) as w:
        for doc in documents:
            for suffix, media, text in ((".md", "text/markdown", doc.markdown), (".html", "text/html", doc.html)):
                name = doc.name.removesuffix(".md") + suffix
                row = add_artifact(w, ledger.artifacts, kind=doc.kind, name=name, data=text.encode("utf-8"),
                                   media_type=media, run_id=current_run_id(),
                                   model_version_id=facts.incident.get("model_version_id"))
                names.append(name)
                hashes.append(row["content_hash"])
        incidents.add_event(w, incident_id, "documents_drafted", actor(), {
            "documents": names, "content_hashes": hashes,
            "gaps": sorted({g for d in documents for g in d.gaps})})
    return names


@task
def refresh_version_documents(model_version_id: str) -> list[str]:
    """The implicated version's model card, datasheets and Annex IV written anew: its stage changed."""
    from govflow.governance.reports.documents.store import store_documents

    return store_documents(get_ledger(), model_version_id, current_run_id(), occasion="incident")


@flow(name="incident")
def incident_flow(config_path: str, reason: str = "", kind: str = "malfunction", severity: str | None = None,
                  version: str | None = None, incident_id: str | None = None, aware_at: str | None = None) -> IncidentOutcome:
    """Run the incident playbook: for ``incident_id``, or for a new incident reported with ``reason``."""
    config = steps.load_system_config(Path(config_path).absolute())
    ledger = get_ledger()
    if incident_id:
        with ledger.read() as conn:
            incident_id = incidents.resolve(conn, incident_id)
            view = incidents.get(conn, incident_id)
        if view.system != config.system.name:
            raise InputError(f"incident {incident_id} is about {view.system}, but the config is for {config.system.name}")
    else:
        incidents.parse_kind(kind)
        if severity:
            incidents.parse_severity(severity)
        if not reason.strip():
            raise InputError("say what happened: --reason TEXT (or give --incident ID to handle an open incident)")
        incident_id = open_reported_incident(config, reason, kind, severity, version, aware_at)
    with ledger.read() as conn:
        view = incidents.get(conn, incident_id)
    if view.model_version_id:
        link_model_version(view.model_version_id)
    apply_response_plan(config, incident_id)
    freeze_system(incident_id)
    rollback = contain(incident_id)
    impact = assess_impact(incident_id)
    cause = find_root_cause(incident_id, rollback)
    documents = draft_documents(incident_id, rollback, impact, cause)
    if view.model_version_id:
        refresh_version_documents(view.model_version_id)
    with ledger.read() as conn:
        view = incidents.get(conn, incident_id)
    timeline = tuple({"action": e["action"], "at": canon.format_ts(e["at"]), "by": e["by"]} for e in view.events)
    return IncidentOutcome(incident_id=incident_id, system=view.system, version=view.version, kind=view.kind.value,
                           report_due_at=canon.format_ts(view.report_due_at), rollback=rollback, impact=impact,
                           root_cause=tuple(cause.get("headline", [])), documents=tuple(documents), timeline=timeline)
