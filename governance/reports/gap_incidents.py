"""The ``incidents`` evidence query (EU AI Act Art. 73): reports *sent* within their deadline.

A drafted notification is not a report. For every incident of the system:

- not reportable (a malfunction not judged serious, or a recorded judgement / plan rule saying so):
  satisfied, with the reason;
- reportable and recorded as sent (`govflow incident notify`) no later than its deadline: satisfied;
- reportable and sent after the deadline: missing ("sent late"), since the obligation was not met;
- reportable and not sent: missing, whether or not a draft exists (the draft is named, with the deadline).

No incident at all: not applicable.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from govflow import canonical as canon
from govflow.governance.ledger.chained import chained
from govflow.governance.ledger.schema import Incident
from govflow.governance.monitoring import incidents as incident_records

Link = tuple[str, str, str]  #: (table, id, note), as `gap_queries.Link` takes it


def _judge_one(view: incident_records.IncidentView) -> tuple[bool, Link]:
    """(obligation met, the link that says why) for one incident."""
    due = canon.format_ts(view.report_due_at)
    if not view.reportable:
        return True, ("incidents", view.id, f"{view.kind.value}: not reportable under Art. 73 (response plan or "
                                            "recorded judgement)")
    sent = view.notification
    if sent is None:
        drafted = "a notice drafted, not sent" if view.event("documents_drafted") else "no notice drafted"
        return False, ("incidents", view.id, f"report due {due}: {drafted}")
    details = sent["details"]
    where = f"sent to {details['to']} ({details['reference']}) at {details['sent_at']}"
    if not details.get("on_time"):
        return False, ("incidents", view.id, f"report due {due}: {where}, late")
    return True, ("incidents", view.id, f"report due {due}: {where}")


def incidents_reported(conn: Connection, system: str) -> tuple[str, str, tuple[Link, ...]]:
    """(status: satisfied | missing | not_applicable, detail, links) for the system's incidents."""
    ids = list(conn.execute(select(Incident.id).where(Incident.system == system, chained(Incident))
                            .order_by(Incident.audit_seq)).scalars())
    if not ids:
        return "not_applicable", f"no incident recorded for {system}", ()
    judged = [_judge_one(incident_records.get(conn, i)) for i in ids]
    links = tuple(link for _, link in judged)
    failing = [link for ok, link in judged if not ok]
    if failing:
        return "missing", "Art. 73 report not sent within its deadline: " + "; ".join(
            f"incident {link[1]} ({link[2]})" for link in failing), links
    reported = sum(1 for link in links if " sent to " in link[2])
    return "satisfied", (f"{len(ids)} incident(s): {reported} reported within the deadline, "
                         f"{len(ids) - reported} not reportable"), links
