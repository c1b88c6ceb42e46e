"""The gap report as Markdown and as a self-contained HTML page (pure: a `GapReport` in, text out).

Sections: what was assessed (system, classification, versions, chain head), the summary per
framework, the progress since the previous report, the risk classification with its reasoning, the
remediation plan ordered by severity, then every requirement with its status and the ledger records
(``table/id``) that are its evidence. Recorded text is escaped (`govflow.governance.reports.documents.render`).
"""

from __future__ import annotations

from govflow import canonical as canon
from govflow.governance.reports.documents.render import DISCLAIMER, Builder, badge, code, esc, to_html
from govflow.governance.reports.gap_queries import Status
from govflow.governance.reports.gap_types import Assessment, GapReport

# Words, not emoji (which show as empty boxes without an emoji font); the HTML form colours them.
MARKS = {Status.SATISFIED: badge("SATISFIED"), Status.STALE: badge("STALE"), Status.MISSING: badge("MISSING"),
         Status.NOT_APPLICABLE: badge("NOT APPLICABLE")}
SHOWN_LINKS = 5


def inline(text: str) -> str:
    """Catalogue text as Markdown: its `backticked` commands as code spans, the rest escaped."""
    parts = text.split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: all of it is plain text
        return esc(text)
    return "".join(code(part) if i % 2 else _padded(part) for i, part in enumerate(parts))


def _padded(text: str) -> str:
    """`esc`, keeping a space at either edge (it separates the text from a code span)."""
    return (" " if text[:1].isspace() else "") + esc(text) + (" " if text[-1:].isspace() and text.strip() else "")


def _links(a: Assessment) -> str:
    shown = ", ".join(code(str(x)) for x in a.links[:SHOWN_LINKS])
    more = f" and {len(a.links) - SHOWN_LINKS} more" if len(a.links) > SHOWN_LINKS else ""
    return shown + more if shown else "—"


def markdown(report: GapReport) -> str:
    b = Builder("gap_report")
    b.heading(1, f"Regulatory gap analysis: {esc(report.system)}")
    b.para(f"**Disclaimer.** {DISCLAIMER}")
    c = report.classification
    b.table(("About this report", ""), [
        ("**System**", code(report.system)),
        ("**Intended purpose**", esc(c.intended_purpose) or "*not declared*"),
        ("**Risk classification**", esc(c.label)),
        ("**Version under review**", code(report.candidate) if report.candidate else "*none recorded*"),
        ("**Version in production**", code(report.production) if report.production else "*none*"),
        ("**Generated at**", code(canon.format_ts(report.generated_at))),
        ("**Evidence read at chain head**", f"seq {report.evaluated_at_seq}, {code(report.evaluated_at_hash)}"),
        ("**Frameworks**", "; ".join(f"{esc(f.title)} ({'binding' if f.binding else 'voluntary'})" for f in report.frameworks)),
    ])
    b.heading(2, "Summary")
    failing = report.failing
    if not c.high_risk:
        verdict = "The system is not classified high-risk: no requirement is mandatory here (gaps are still listed)."
    elif failing:
        verdict = (f"**FAIL**: {len(failing)} mandatory requirement(s) of this high-risk system are missing or stale: "
                   + ", ".join(code(a.requirement.key) for a in failing) + ".")
    else:
        verdict = "**PASS**: every mandatory requirement of this high-risk system has recorded, current evidence."
    b.para(verdict)
    b.table(("Framework", "Satisfied", "Stale", "Missing", "Not applicable"), [
        (esc(f.title), *(str(report.counts(f.name)[s.value]) for s in
                         (Status.SATISFIED, Status.STALE, Status.MISSING, Status.NOT_APPLICABLE)))
        for f in report.frameworks])
    b.heading(2, "Progress since the previous report")
    p = report.progress
    if p is None:
        b.para("This is the first gap report recorded for this system.")
    else:
        before = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(p.previous_counts.items()) if n)
        b.para(f"Previous report: {code(p.previous_generated_at)} (artifact {code('artifacts/' + p.previous_artifact_id)}, "
               f"version {code(p.previous_version or 'none')}): {esc(before)}. "
               f"Now satisfied: {len(p.improved)}; no longer satisfied: {len(p.regressed)}; other changes: "
               f"{len(p.changes) - len(p.improved) - len(p.regressed)}.")
        if p.changes:
            b.table(("Requirement", "Before", "Now"), [
                (f"{code(ch.key)} {esc(ch.title)}", esc(ch.before or "not assessed"), esc(ch.after)) for ch in p.changes])
        else:
            b.para("No requirement changed status.")
    b.heading(2, "Risk classification (Art. 6, Annex III)")
    b.para(f"**{esc(c.label)}**, declared Annex III point: {code(c.declared) if c.declared else 'none'}.")
    b.bullets(esc(line) for line in c.reasoning)
    if c.findings:
        b.para("Findings:")
        b.bullets(f"**{esc(f.severity)}**: {esc(f.message)}" for f in c.findings)
    b.heading(2, "Remediation plan (most severe first)")
    plan = report.remediation()
    if plan:
        b.numbered(f"**{a.requirement.severity}**{' (mandatory)' if a.mandatory else ''} {code(a.requirement.key)} "
                   f"{esc(a.requirement.citation)}: {esc(a.requirement.title)}. {MARKS[a.status]}: {esc(a.detail)}. "
                   f"**Do:** {inline(a.requirement.remediation)}" for a in plan)
    else:
        b.para("Nothing to remediate: every assessed requirement is satisfied or not applicable.")
    for f in report.frameworks:
        b.heading(2, f"{esc(f.title)}")
        b.table(("Status", "Requirement", "Citation", "Severity", "Evidence (ledger records)", "Detail"), [
            (MARKS[a.status], f"{code(a.requirement.id)} {esc(a.requirement.title)}", esc(a.requirement.citation),
             a.requirement.severity + (" (mandatory)" if a.mandatory else ""), _links(a), esc(a.detail))
            for a in report.assessments if a.requirement.framework == f.name])
    b.para("Catalogues: " + "; ".join(f"{code(f.name)} sha256 {code(f.content_hash[:16])}" for f in report.frameworks)
           + (f". Recorded by run {code('runs/' + report.run_id)}." if report.run_id else "."))
    return b.markdown()


def render(report: GapReport, form: str) -> bytes:
    """``md`` or ``html``, as UTF-8 bytes."""
    text = markdown(report)
    if form == "html":
        text = to_html(text, f"Gap analysis: {report.system}")
    return text.encode("utf-8")


def summary_lines(report: GapReport, *, plan: int = 8) -> list[str]:
    """The report in a few plain lines for a terminal (`govflow gap`, `govflow demo`)."""
    c = report.classification
    lines = [f"{report.system}: {c.label}; version under review {report.candidate or 'none'}, "
             f"in production {report.production or 'none'}"]
    lines += [f"  finding ({f.severity}): {f.message}" for f in c.findings]
    for f in report.frameworks:
        n = report.counts(f.name)
        lines.append(f"  {f.title}: {n['satisfied']} satisfied, {n['stale']} stale, {n['missing']} missing, "
                     f"{n['not_applicable']} not applicable")
    if report.progress is not None:
        p = report.progress
        lines.append(f"  since the previous report ({p.previous_generated_at}): {len(p.improved)} now satisfied, "
                     f"{len(p.regressed)} no longer satisfied")
        lines += [f"    + {ch.key}: {ch.before or 'not assessed'} -> {ch.after}" for ch in p.improved]
        lines += [f"    - {ch.key}: {ch.before} -> {ch.after}" for ch in p.regressed]
    todo = report.remediation()
    if todo:
        lines.append(f"  remediation plan ({len(todo)} item(s), most severe first):")
        for i, a in enumerate(todo[:plan], 1):
            flag = ", mandatory" if a.mandatory else ""
            lines.append(f"    {i}. [{a.requirement.severity}{flag}] {a.requirement.key} ({a.requirement.citation}) "
                         f"{a.status.value}: {a.detail}")
        if len(todo) > plan:
            lines.append(f"    ... and {len(todo) - plan} more in the report")
    if not c.high_risk:
        lines.append("  result: not high-risk, no mandatory requirement")
    elif report.failing:
        lines.append(f"  result: FAIL, {len(report.failing)} mandatory requirement(s) missing or stale")
    else:
        lines.append("  result: PASS, every mandatory requirement has current evidence")
    return lines
