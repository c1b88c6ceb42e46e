"""The incident response plan: who leads, who reports, who closes, whom to call, which authority.

It comes from the ``incident_response:`` section of govflow.yaml; every key is optional:

```yaml
incident_response:
  roles: {lead: risk_officer, notify: compliance_officer, close: risk_officer}
  contacts:
    - {name: Ravi Patel, role: risk_officer, email: ravi.patel@example.org, phone: "+49 30 1234567"}
  authority: {name: Bundesnetzagentur, country: DE, contact: ai-incidents@example.org}
  severity:                       # per incident kind: urgency, and whether Art. 73 reporting applies
    malfunction: {severity: medium, reportable: false}
    fundamental_rights: {severity: critical}
```

Without a section the default plan applies: the risk officer holds every duty; every kind but a
malfunction is reportable (`incident_kinds.REPORTABLE`); severities are `incident_kinds.DEFAULT_SEVERITY`.
The incident flow records the plan it applied on the incident's timeline (action ``response_plan``),
so a later edit of the file never changes what an earlier incident was handled under.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from govflow.governance.monitoring.incident_kinds import (
    DEFAULT_SEVERITY,
    REPORTABLE,
    IncidentKind,
    IncidentSeverity,
    parse_kind,
)

DUTIES = ("lead", "notify", "close")
DEFAULT_ROLE = "risk_officer"


@dataclass(frozen=True)
class ResponsePlan:
    """A response plan as values (`from_config`, or `from_recorded` from an incident's timeline)."""

    roles: Mapping[str, str] = field(default_factory=dict)  #: duty -> role; missing duties fall to the risk officer
    contacts: tuple[Mapping[str, Any], ...] = ()  #: {name, role, email, phone}
    authority: Mapping[str, Any] | None = None  #: {name, country, contact}
    rules: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  #: kind -> {severity, reportable}

    @classmethod
    def from_config(cls, config: Any) -> ResponsePlan:
        """The plan of a `GovflowConfig` (its ``incident_response`` section), the default when it has none."""
        section = getattr(config, "incident_response", None)
        if section is None:
            return cls()
        data = section.model_dump(mode="json")
        return cls(roles=dict(data["roles"]), contacts=tuple(data["contacts"]), authority=data["authority"],
                   rules={k: v for k, v in data["severity"].items()})

    @classmethod
    def from_recorded(cls, recorded: Mapping[str, Any] | None) -> ResponsePlan:
        if not recorded:
            return cls()
        return cls(roles=dict(recorded.get("roles") or {}), contacts=tuple(recorded.get("contacts") or ()),
                   authority=recorded.get("authority"), rules=dict(recorded.get("rules") or {}))

    def role_for(self, duty: str) -> str:
        return str(self.roles.get(duty) or DEFAULT_ROLE)

    def severity(self, kind: str | IncidentKind) -> IncidentSeverity:
        chosen = parse_kind(kind)
        given = (self.rules.get(chosen.value) or {}).get("severity")
        return IncidentSeverity(given) if given else DEFAULT_SEVERITY[chosen]

    def reportable(self, kind: str | IncidentKind) -> bool:
        chosen = parse_kind(kind)
        given = (self.rules.get(chosen.value) or {}).get("reportable")
        return REPORTABLE[chosen] if given is None else bool(given)

    def called(self) -> list[dict[str, Any]]:
        """The contacts holding a duty of the plan (who is called when an incident opens)."""
        roles = {self.role_for(d) for d in DUTIES}
        return [dict(c) for c in self.contacts if c.get("role") in roles]

    def to_dict(self) -> dict[str, Any]:
        return {"roles": {d: self.role_for(d) for d in DUTIES}, "contacts": [dict(c) for c in self.contacts],
                "authority": dict(self.authority) if self.authority else None,
                "rules": {k: dict(v) for k, v in sorted(self.rules.items())}}
