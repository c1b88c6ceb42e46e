"""The operating sections of `govflow.yaml`: where chain heads are anchored, and the incident response plan.

They are the operator's settings, not the system's: `govflow.governance.config.GovflowConfig` keeps them
out of the stored snapshot and the config hash. Strict like every section: unknown keys are errors.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Strict(BaseModel):
    """A config section that refuses unknown keys and cannot be changed once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class AnchorSink(Strict):
    """One place chain heads are published to (exactly one key): see `govflow.governance.ledger.anchor_settings`."""

    file: str | None = Field(None, description="A file on another path (disk, mount, machine).")
    folder: str | None = Field(None, description="A folder on another path: one head file per ledger.")
    http: str | None = Field(None, description="An http(s) URL: POST each head, GET reads them back.")
    prefect: bool | None = Field(None, description="true: a Prefect artifact per head, in Prefect's database.")

    def kind(self) -> tuple[str, str]:
        given = [(k, v) for k, v in (("file", self.file), ("folder", self.folder), ("http", self.http)) if v]
        given += [("prefect", "")] if self.prefect else []
        if len(given) != 1:
            raise ValueError("each anchor sink is exactly one of file: PATH, folder: PATH, http: URL, prefect: true")
        return given[0]

    @model_validator(mode="after")
    def _one(self) -> AnchorSink:
        kind, target = self.kind()
        if kind == "http" and not target.startswith(("http://", "https://")):
            raise ValueError(f"http: '{target}' must start with http:// or https://")
        return self


class AnchorsSection(Strict):
    """Where chain heads are kept beyond heads.log, and the keys that sign and check them."""

    sinks: list[AnchorSink] = Field(default_factory=list)
    key: str | None = Field(None, description="Ed25519 private key that signs heads (`govflow keys create`).")
    public_key: str | None = Field(None, description="Public key (base64) that heads must be signed with.")


class PlanContact(Strict):
    name: str = Field(description="The person called in a response.")
    role: str = Field(description="The role they hold, e.g. risk_officer.")
    email: str | None = Field(None, description="Where to reach them.")
    phone: str | None = Field(None, description="Where to reach them urgently.")


class AuthoritySection(Strict):
    name: str = Field(description="The market surveillance authority Art. 73 reports go to.")
    country: str | None = Field(None, description="Its member state, e.g. DE.")
    contact: str | None = Field(None, description="Where reports are sent (portal, address, e-mail).")


class SeverityRule(Strict):
    severity: Literal["critical", "high", "medium", "low"] | None = Field(None, description="The response's urgency.")
    reportable: bool | None = Field(None, description="Reported to the authority under Art. 73.")


class IncidentResponseSection(Strict):
    """The incident response plan: see `govflow.governance.monitoring.response_plan`."""

    roles: dict[str, str] = Field(default_factory=dict, description="Duty (lead, notify, close) -> the role holding it.")
    contacts: list[PlanContact] = Field(default_factory=list)
    authority: AuthoritySection | None = None
    severity: dict[str, SeverityRule] = Field(default_factory=dict, description="Incident kind -> its rule.")

    @field_validator("severity")
    @classmethod
    def _known_kinds(cls, rules: dict[str, SeverityRule]) -> dict[str, SeverityRule]:
        from govflow.governance.monitoring.incident_kinds import IncidentKind

        known = [k.value for k in IncidentKind]
        for kind in rules:
            if kind not in known:
                raise ValueError(f"unknown incident kind '{kind}'; choose among: {', '.join(known)}")
        return rules

    @field_validator("roles")
    @classmethod
    def _known_duties(cls, roles: dict[str, str]) -> dict[str, str]:
        for duty in roles:
            if duty not in ("lead", "notify", "close"):
                raise ValueError(f"unknown duty '{duty}'; the duties are lead, notify and close")
        return roles
