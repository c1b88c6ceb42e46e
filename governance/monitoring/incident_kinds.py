"""Incident kinds, severities and the EU AI Act Art. 73 reporting deadlines (pure values, no ledger).

Art. 73 deadlines (REGULATIONS.md; check the article text before relying on sub-paragraph numbers):
15 days after awareness by default (73(2)); 2 days for a widespread infringement or a serious and
irreversible disruption of critical infrastructure (Art. 3(49)(b); 73(3)); 10 days in case of a
death (73(4)). An initial, incomplete report is allowed. Whether an event is a *serious* incident
is a human judgement: govflow computes the deadline as if it were, so it is never missed.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

from govflow.errors import InputError

UNKNOWN_KIND = "unknown incident kind '{kind}'; choose one of: {kinds}"
UNKNOWN_SEVERITY = "unknown severity '{severity}'; choose one of: {severities}"


class IncidentKind(enum.StrEnum):
    """What happened, in the terms of EU AI Act Art. 3(49) and Art. 73 (the reporting deadline follows)."""

    DEATH = "death"  #: Art. 3(49)(a), the death of a person: report within 10 days (Art. 73(4))
    HEALTH_HARM = "health_harm"  #: Art. 3(49)(a), serious harm to a person's health: 15 days (73(2))
    CRITICAL_INFRASTRUCTURE = "critical_infrastructure"  #: Art. 3(49)(b), serious and irreversible disruption: 2 days (73(3))
    WIDESPREAD_INFRINGEMENT = "widespread_infringement"  #: a widespread infringement (Art. 3(61)): 2 days (73(3))
    FUNDAMENTAL_RIGHTS = "fundamental_rights"  #: Art. 3(49)(c), infringement of fundamental-rights obligations, e.g. discrimination: 15 days
    PROPERTY_OR_ENVIRONMENT = "property_or_environment"  #: Art. 3(49)(d), serious harm to property or the environment: 15 days
    MALFUNCTION = "malfunction"  #: a malfunction (drift, degraded accuracy) not yet judged serious: 15 days, as if it were


class IncidentSeverity(enum.StrEnum):
    """How urgent the response is (govflow's scale; the deadline comes from the kind)."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


REPORT_DAYS: dict[IncidentKind, int] = {
    IncidentKind.DEATH: 10,
    IncidentKind.HEALTH_HARM: 15,
    IncidentKind.CRITICAL_INFRASTRUCTURE: 2,
    IncidentKind.WIDESPREAD_INFRINGEMENT: 2,
    IncidentKind.FUNDAMENTAL_RIGHTS: 15,
    IncidentKind.PROPERTY_OR_ENVIRONMENT: 15,
    IncidentKind.MALFUNCTION: 15,
}
LEGAL_BASIS: dict[IncidentKind, str] = {
    IncidentKind.DEATH: "EU AI Act Art. 73(4): death of a person, no later than 10 days after awareness",
    IncidentKind.HEALTH_HARM: "EU AI Act Art. 73(2) with Art. 3(49)(a): no later than 15 days after awareness",
    IncidentKind.CRITICAL_INFRASTRUCTURE: "EU AI Act Art. 73(3) with Art. 3(49)(b): no later than 2 days after awareness",
    IncidentKind.WIDESPREAD_INFRINGEMENT: "EU AI Act Art. 73(3), widespread infringement: no later than 2 days after awareness",
    IncidentKind.FUNDAMENTAL_RIGHTS: "EU AI Act Art. 73(2) with Art. 3(49)(c): no later than 15 days after awareness",
    IncidentKind.PROPERTY_OR_ENVIRONMENT: "EU AI Act Art. 73(2) with Art. 3(49)(d): no later than 15 days after awareness",
    IncidentKind.MALFUNCTION: ("EU AI Act Art. 73(2), if judged a serious incident: no later than 15 days after "
                               "awareness (computed as if serious, so the deadline is never missed)"),
}
DEFAULT_SEVERITY: dict[IncidentKind, IncidentSeverity] = {
    IncidentKind.DEATH: IncidentSeverity.CRITICAL,
    IncidentKind.CRITICAL_INFRASTRUCTURE: IncidentSeverity.CRITICAL,
    IncidentKind.WIDESPREAD_INFRINGEMENT: IncidentSeverity.CRITICAL,
    IncidentKind.HEALTH_HARM: IncidentSeverity.HIGH,
    IncidentKind.FUNDAMENTAL_RIGHTS: IncidentSeverity.HIGH,
    IncidentKind.PROPERTY_OR_ENVIRONMENT: IncidentSeverity.MEDIUM,
    IncidentKind.MALFUNCTION: IncidentSeverity.MEDIUM,
}


def parse_kind(kind: str | IncidentKind) -> IncidentKind:
    try:
        return IncidentKind(kind)
    except ValueError:
        raise InputError(UNKNOWN_KIND.format(kind=kind, kinds=", ".join(k.value for k in IncidentKind))) from None


def parse_severity(severity: str | IncidentSeverity) -> IncidentSeverity:
    try:
        return IncidentSeverity(severity)
    except ValueError:
        raise InputError(UNKNOWN_SEVERITY.format(
            severity=severity, severities=", ".join(s.value for s in IncidentSeverity))) from None


def report_due(kind: str | IncidentKind, aware_at: datetime) -> datetime:
    """The Art. 73 deadline: awareness plus the kind's days (`REPORT_DAYS`)."""
    if aware_at.tzinfo is None:
        raise InputError("the time of awareness must carry a time zone, e.g. 2025-03-01T09:00:00+00:00")
    return aware_at + timedelta(days=REPORT_DAYS[parse_kind(kind)])




# Reportable to the market surveillance authority under Art. 73 unless the response plan says
# otherwise: a malfunction is not (yet) judged serious; every other kind is a serious incident by definition.
REPORTABLE: dict[IncidentKind, bool] = {kind: kind != IncidentKind.MALFUNCTION for kind in IncidentKind}
