"""EU AI Act risk classification (Art. 6(2), Annex III) from the intended purpose and the declared point.

The Annex III areas and the words of a purpose that point to each are data (the ``annex_iii`` list of
``governance/reports/regulations/eu_ai_act.yaml``). `classify` is pure: it matches the purpose against them,
compares the result with the point the config declares (``system.annex_iii``) and returns the
classification, its reasoning line by line, and the findings. An inconsistency is itself a finding:
a purpose that reads as recruitment or credit scoring declared as not high-risk is *presumed* high-risk
(the stricter reading) until the declaration or the purpose is corrected. Matching words is a screen,
not a legal assessment: the reasoning says which words matched, so a person can judge it.

`record_classification` writes it to the ledger (an artifact of kind ``risk_classification`` and a
``check_results`` row of kind ``classification`` whose subject is the system), in the caller's
transaction.

Examples
--------
>>> c = classify("credit-scoring", "Assess the creditworthiness of natural persons", "5(b)")
>>> (c.high_risk, c.consistent, [m.point for m in c.matched])
(True, True, ['5(b)'])
>>> c = classify("cv-screener", "Rank job applicants for interviews", None)
>>> (c.high_risk, c.consistent, c.findings[0].severity)
(True, False, 'critical')
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from govflow import canonical as canon
from govflow.governance.ledger.engine import Writer
from govflow.governance.ledger.schema import CheckResultRow

CATALOGUE = Path(__file__).parent / "regulations" / "eu_ai_act.yaml"
POINT = re.compile(r"^([1-8])(?:\(([a-h])\))?$")

NOT_A_POINT = "system.annex_iii is '{declared}', which is not an Annex III point: write e.g. \"5(b)\", or null"
UNDECLARED = (
    "declared as not high-risk (system.annex_iii: null), but the intended purpose reads as Annex III {points}: "
    "the system is presumed high-risk. Declare the point, or reword the purpose and record the Art. 6(3) "
    "derogation with its reasoning"
)
OTHER_POINT = (
    "declared Annex III {declared}, but the intended purpose reads as {points}: check which point applies "
    "and correct system.annex_iii or the purpose"
)
NO_MATCH = (
    "declared Annex III {declared}, but no word of the intended purpose points to it: make the purpose "
    "say what the system decides (Annex IV 1(a))"
)


@dataclass(frozen=True)
class AnnexPoint:
    """One Annex III point as the catalogue describes it."""

    point: str  #: e.g. "5(b)"
    area: str  #: the area's name, e.g. "Access to essential private and public services"
    title: str  #: what the point covers
    keywords: tuple[str, ...]  #: words of an intended purpose that point to it
    excepted: tuple[str, ...] = ()  #: words that take a purpose out of it (5(b): fraud detection)

    @property
    def number(self) -> str:
        return self.point.split("(")[0]


@dataclass(frozen=True)
class Match:
    point: str
    title: str
    words: tuple[str, ...]  #: the words of the purpose that matched


@dataclass(frozen=True)
class Finding:
    severity: str  #: critical | high | warning
    message: str


@dataclass(frozen=True)
class Classification:
    """The risk classification of one system, with its reasoning."""

    system: str
    intended_purpose: str
    declared: str | None  #: ``system.annex_iii`` as declared
    matched: tuple[Match, ...]  #: the Annex III points the purpose reads as
    high_risk: bool
    basis: str  #: declared | presumed (purpose matched, not declared) | none
    reasoning: tuple[str, ...]
    findings: tuple[Finding, ...] = field(default=())

    @property
    def consistent(self) -> bool:
        """No critical or high finding: declaration and purpose agree."""
        return not any(f.severity in ("critical", "high") for f in self.findings)

    @property
    def label(self) -> str:
        if not self.high_risk:
            return "not high-risk (no Annex III area)"
        point = self.declared if self.basis == "declared" else ", ".join(m.point for m in self.matched)
        return f"high-risk (Annex III {point}, {self.basis})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "system": self.system, "intended_purpose": self.intended_purpose, "declared": self.declared,
            "matched": [{"point": m.point, "title": m.title, "words": list(m.words)} for m in self.matched],
            "high_risk": self.high_risk, "basis": self.basis, "consistent": self.consistent, "label": self.label,
            "reasoning": list(self.reasoning),
            "findings": [{"severity": f.severity, "message": f.message} for f in self.findings],
            "legal_notice": "A screen of the intended purpose against Annex III, not legal advice.",
        }


@cache
def annex_iii(path: Path = CATALOGUE) -> tuple[AnnexPoint, ...]:
    """The Annex III points of the EU AI Act catalogue."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return tuple(AnnexPoint(point=str(p["point"]), area=str(p["area"]), title=str(p["title"]),
                            keywords=tuple(map(str, p.get("keywords", ()))),
                            excepted=tuple(map(str, p.get("excepted", ())))) for p in raw["annex_iii"])


def _words_in(text: str, words: Sequence[str]) -> tuple[str, ...]:
    lowered = " ".join(text.lower().split())
    return tuple(w for w in words if re.search(r"(?<![a-z0-9])" + re.escape(w.lower()) + r"(?![a-z0-9])", lowered))


def _agrees(declared: str, point: str) -> bool:
    """"5" agrees with "5(b)"; "5(b)" with "5(b)" only."""
    if declared == point:
        return True
    return "(" not in declared and point.split("(")[0] == declared or "(" not in point and declared.split("(")[0] == point


def classify(system: str, intended_purpose: str, declared: str | None,
             points: Sequence[AnnexPoint] | None = None) -> Classification:
    """Classify a system from its intended purpose and its declared Annex III point (pure)."""
    points = annex_iii() if points is None else points
    declared = declared.strip().replace(" ", "") if isinstance(declared, str) and declared.strip() else None
    reasoning: list[str] = [f"Intended purpose: \"{' '.join(intended_purpose.split())}\"."]
    findings: list[Finding] = []
    matched: list[Match] = []
    for p in points:
        words = _words_in(intended_purpose, p.keywords)
        if not words:
            continue
        excepted = _words_in(intended_purpose, p.excepted)
        if excepted:
            reasoning.append(f"Annex III {p.point} ({p.title}) matched on {', '.join(words)}, but the purpose also "
                             f"names {', '.join(excepted)}, which the point excepts; not counted.")
            continue
        matched.append(Match(p.point, p.title, words))
        reasoning.append(f"The purpose reads as Annex III {p.point} ({p.area}: {p.title}): matched {', '.join(words)}.")
    if not matched:
        reasoning.append("No Annex III area's words appear in the purpose.")
    known = {p.point for p in points} | {p.number for p in points}
    if declared is not None and (not POINT.match(declared) or not any(_agrees(declared, k) for k in known)):
        findings.append(Finding("critical", NOT_A_POINT.format(declared=declared)))
        declared_ok: str | None = None
    else:
        declared_ok = declared
    shown = ", ".join(f"{m.point} ({m.title})" for m in matched)
    if declared_ok is not None:
        high_risk, basis = True, "declared"
        reasoning.append(f"Declared Annex III {declared_ok}: high-risk under Art. 6(2).")
        agreeing = [m for m in matched if _agrees(declared_ok, m.point)]
        if agreeing:
            reasoning.append("The declaration agrees with the purpose.")
        elif matched:
            findings.append(Finding("high", OTHER_POINT.format(declared=declared_ok, points=shown)))
        else:
            findings.append(Finding("warning", NO_MATCH.format(declared=declared_ok)))
    elif matched:
        high_risk, basis = True, "presumed"
        findings.append(Finding("critical", UNDECLARED.format(points=shown)))
        reasoning.append("Not declared, but the purpose matches Annex III: presumed high-risk (the stricter reading).")
    else:
        high_risk, basis = False, "none"
        reasoning.append("Not declared and no Annex III area matched: not high-risk under Art. 6(2). "
                         "Annex I (products under Union harmonisation law, Art. 6(1)) is not assessed by govflow.")
    return Classification(system=system, intended_purpose=intended_purpose, declared=declared, matched=tuple(matched),
                          high_risk=high_risk, basis=basis, reasoning=tuple(reasoning), findings=tuple(findings))


def classify_config(config: Mapping[str, Any]) -> Classification:
    """Classify from a config (a `GovflowConfig` snapshot or its ``system`` section's keys)."""
    system = config.get("system") or {}
    return classify(str(system.get("name", "")), str(system.get("intended_purpose") or ""), system.get("annex_iii"))


def record_classification(w: Writer, store: Any, c: Classification, *, run_id: str,
                          model_version_id: str | None) -> dict[str, str]:
    """Write the classification in the writer's transaction; returns the ids of its two rows."""
    from govflow.governance.ledger.runs import add_artifact, to_json

    data = canon.canonical(c.to_dict())
    artifact = add_artifact(w, store, kind="risk_classification", name=f"risk-classification-{c.system}.json",
                            data=data, media_type="application/json", run_id=run_id, model_version_id=model_version_id)
    worst = next((f.severity for f in c.findings if f.severity == "critical"),
                 next((f.severity for f in c.findings if f.severity == "high"), "warning"))
    row = w.add(CheckResultRow, run_id=run_id, model_version_id=None, kind="classification",
                name="annex_iii_consistency", subject=c.system, passed=int(c.consistent),
                observed_json=to_json({"high_risk": c.high_risk, "basis": c.basis, "declared": c.declared,
                                       "matched": [m.point for m in c.matched]}),
                threshold_json=to_json("declared point agrees with the intended purpose"),
                severity=worst if not c.consistent else "info",
                details_json=to_json({"reasoning": list(c.reasoning), "artifact_id": artifact["id"],
                                      "findings": [f.message for f in c.findings]}))
    return {"artifact_id": str(artifact["id"]), "check_result_id": str(row["id"])}
