"""Art. 73 deadlines per kind, and the draft notification that states them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from govflow.errors import InputError
from govflow.governance.monitoring.incidents import LEGAL_BASIS, IncidentKind, report_due
from govflow.governance.reports.documents.incident_notice import IncidentFacts, render_incident_documents

AWARE = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(("kind", "days", "due"), [
    ("death", 10, "2026-03-12T09:30:00.000000Z"),
    ("health_harm", 15, "2026-03-17T09:30:00.000000Z"),
    ("critical_infrastructure", 2, "2026-03-04T09:30:00.000000Z"),
    ("widespread_infringement", 2, "2026-03-04T09:30:00.000000Z"),
    ("fundamental_rights", 15, "2026-03-17T09:30:00.000000Z"),
    ("property_or_environment", 15, "2026-03-17T09:30:00.000000Z"),
    ("malfunction", 15, "2026-03-17T09:30:00.000000Z"),
])
def test_deadline_per_kind_and_in_the_notice(kind: str, days: int, due: str) -> None:
    from govflow import canonical as canon

    assert canon.format_ts(report_due(kind, AWARE)) == due
    facts = IncidentFacts(
        incident={"id": "01a2-incident", "system": "loans", "version": "loans:2", "model_version_id": "mv",
                  "kind": kind, "severity": "high", "aware_at": canon.format_ts(AWARE), "report_due_at": due,
                  "report_days": days, "legal_basis": LEGAL_BASIS[IncidentKind(kind)], "summary": "a complaint",
                  "state": "open", "timeline": [{"action": "opened", "at": canon.format_ts(AWARE), "by": "tests",
                                                 "details": {}}]},
        system={"name": "loans", "intended_purpose": "Assess loans", "annex_iii": "5(b)", "provider": None},
        rollback={"suspended": "loans:2", "restored": "loans:1", "stopped": False}, impact=None,
        chain_head=(7, "a" * 64), generated_at=AWARE)
    notice, internal, external = render_incident_documents(facts)
    assert (notice.kind, internal.kind, external.kind) == ("incident_notice", "communication", "communication")
    assert f"| **Reporting deadline** | `{due}` ({days} days after awareness) |" in notice.markdown
    assert f"| **Legal basis of the deadline** | {LEGAL_BASIS[IncidentKind(kind)]} |" in notice.markdown
    for document in (notice, internal, external):
        assert "**DRAFT — not sent.**" in document.markdown
        assert "It is not legal advice" in document.markdown
        assert "<!DOCTYPE html>" in document.html and "DRAFT" in document.html
    assert "Serving rolled back to `loans:1`" in notice.markdown
    assert notice.gaps[:3] == ["1. Report: Addressed to", "1. Report: Reporting organisation (provider)",
                               "1. Report: Contact person"]


def test_deadlines_need_a_time_zone_and_a_known_kind() -> None:
    with pytest.raises(InputError) as naive:
        report_due("death", datetime(2026, 3, 2, 9, 30))
    assert str(naive.value) == "the time of awareness must carry a time zone, e.g. 2025-03-01T09:00:00+00:00"
    with pytest.raises(InputError) as unknown:
        report_due("outage", AWARE)
    assert str(unknown.value) == ("unknown incident kind 'outage'; choose one of: death, health_harm, "
                                  "critical_infrastructure, widespread_infringement, fundamental_rights, "
                                  "property_or_environment, malfunction")
