"""EU AI Act Annex IV technical documentation (Art. 11) of a model version, from ledger evidence.

The nine sections of Annex IV, each broken into the items the Annex names. An item states only what
a ledger record holds, and cites it (``table/id`` or a fingerprint); every item, or part of an item,
that no record covers is rendered as a visible gap and listed again at the end. Nothing is written
from general knowledge of what such a system "usually" does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from govflow.governance.reports.documents import checks_view as view
from govflow.governance.reports.documents import datasheet, figures, model_card
from govflow.governance.reports.documents.render import (
    Builder,
    Document,
    as_json,
    code,
    document,
    esc,
    flatten,
    fmt,
    header,
    ref,
    ts,
    val,
)
from govflow.governance.reports.evidence import Evidence, Ref

VERBS = {"approve": "approved", "reject": "rejected"}
DECLARATION_KINDS = ("declaration_of_conformity", "eu_declaration_of_conformity")
CONTRACT_KIND = "data_contract"


@dataclass
class Item:
    """One item of an Annex IV section: recorded facts, tables, and what is missing."""

    key: str
    title: str
    facts: list[str] = field(default_factory=list)
    tables: list[tuple[str, list[str], list[list[str]]]] = field(default_factory=list)  # (caption, header, rows)
    figures: list[tuple[str, str]] = field(default_factory=list)  # (svg, caption), after the tables
    gaps: list[tuple[str, str]] = field(default_factory=list)  # (what, how to provide it)

    def fact(self, text: str) -> Item:
        self.facts.append(text)
        return self

    def gap(self, what: str, hint: str = "") -> Item:
        self.gaps.append((what, hint))
        return self


def file_name(evidence: Evidence) -> str:
    return f"annex-iv-{evidence.version.system}-v{evidence.version.version}.md"


def _cfg(e: Evidence, key: str) -> str:
    return f"{ref(Ref('model_versions', e.version.id))} `config_snapshot.{key}`"


def section_1(e: Evidence) -> list[Item]:
    v, system = e.version, e.section("system")
    a = Item("1(a)", "Intended purpose, provider, version")
    if system.get("intended_purpose"):
        a.fact(f"Intended purpose: {esc(system['intended_purpose'])} ({_cfg(e, 'system.intended_purpose')})")
    else:
        a.gap("the intended purpose", "Set `system.intended_purpose`.")
    if "annex_iii" in system:
        point = code(system["annex_iii"]) if system["annex_iii"] else "none declared"
        a.fact(f"Annex III point, as declared: {point} ({_cfg(e, 'system.annex_iii')})")
    if system.get("provider"):
        a.fact(f"Provider: {esc(system['provider'])} ({_cfg(e, 'system.provider')})")
    else:
        a.gap("the provider's name", "Set `system.provider` in govflow.yaml.")
    a.fact(f"Version: {code(v.label)}, model fingerprint {code(v.fingerprint)}, registered {code(ts(v.created_at))} "
           f"({ref(Ref('model_versions', v.id))})")
    earlier = [s for s in e.versions if s.version < v.version]
    a.fact("Relation to previous versions: " + (
        "; ".join(f"{code(f'{v.system}:{s.version}')} ({ref(Ref('model_versions', s.id))}, stage {esc(s.stage or '—')})"
                  for s in earlier) + "; see section 6" if earlier else "the first recorded version of the system"))
    c = Item("1(c)", "Versions of relevant software; version update requirements")
    for run in (e.training_run, e.gate_run):
        if run is not None:
            pkgs = esc(", ".join(f"{k} {val}" for k, val in run.env.items())) or "no package versions recorded"
            c.fact(f"{esc(run.name)} run: code {code(run.code_ref or '—')}; {pkgs} ({ref(Ref('runs', run.id))})")
    if not c.facts:
        c.gap("the software versions", "They are recorded with every flow run.")
    c.gap("requirements related to version updates")
    h = Item("1(h)", "Instructions for use")
    h.fact(f"The model card generated from the same evidence, {code(model_card.file_name(e))}, section "
           "\u201cInstructions for use (EU AI Act Art. 13)\u201d: how the logs are collected, kept and read.")
    return [
        a,
        Item("1(b)", "Interaction with hardware or software, including other AI systems, not part of the system")
        .gap("the system's interaction with other hardware or software"),
        c,
        Item("1(d)", "Forms in which the system is placed on the market or put into service")
        .gap("the forms of placing on the market (software package, download, API)"),
        Item("1(e)", "Hardware on which the system is intended to run").gap("the intended hardware"),
        Item("1(f)", "Where the system is a component of products: photographs or illustrations")
        .gap("product photographs or illustrations, where applicable"),
        Item("1(g)", "Basic description of the user interface provided to the deployer")
        .gap("a description of the deployer's user interface"),
        h,
    ]


def section_2(e: Evidence) -> list[Item]:
    v, data, model = e.version, e.section("data"), e.section("model")
    run = e.training_run
    a = Item("2(a)", "Methods and steps of development, incl. third-party tools")
    if run is not None:
        steps = " → ".join(code(t.name) for t in run.tasks) or "no tasks recorded"
        a.fact(f"Training flow {code(run.name)} ({ref(Ref('runs', run.id))}), {code(ts(run.started_at))} to "
               f"{code(ts(run.ended_at))}, state {esc(run.state or '—')}: {steps}")
        failed = [t for t in run.tasks if t.state == "failed"]
        a.facts += [f"Task {code(t.name)} failed: {esc(t.error or '')} ({ref(Ref('runs', t.id))})" for t in failed]
    else:
        a.gap("the training run of this version", "Train with `govflow run train -c govflow.yaml`.")
    b = Item("2(b)", "Design specifications: logic, algorithms, key choices")
    if model.get("estimator"):
        b.fact(f"Estimator {code(model['estimator'])}, bias mitigation {code(model.get('mitigation') or 'none')} "
               f"({_cfg(e, 'model')})")
    if model.get("factory"):  # the team's own estimator or pipeline; its code identity is in the hyperparameters
        b.fact(f"Model built by the team's own factory {code(model['factory'])}, bias mitigation "
               f"{code(model.get('mitigation') or 'none')} ({_cfg(e, 'model')})")
    b.fact(f"Hyperparameters {code(as_json(dict(v.hyperparams)))} ({ref(Ref('model_versions', v.id))} `hyperparams_json`)")
    if data.get("target"):
        b.fact(f"Predicts {code(data['target'])}, favourable outcome {code(data.get('positive_label'))}; sensitive "
               f"attributes given to the model: {fmt(bool(data.get('sensitive_as_features')))} ({_cfg(e, 'data')})")
    b.gap("the rationale and assumptions of the key design choices, incl. about the persons or groups concerned")
    b.gap("the trade-offs made to meet the requirements of Chapter III, Section 2")
    c = Item("2(c)", "System architecture; computational resources")
    sheets = datasheet.names(e)
    for d in e.datasets:
        made = f", made by {code(d.produced_by.task)} from {code(d.derived_from)}" if d.produced_by and d.derived_from else ""
        c.fact(f"Data set ({esc(d.role)}) {code(d.fingerprint)}{made} ({ref(Ref('dataset_versions', d.id))})")
    if e.datasets:
        c.fact(f"Model {code(v.fingerprint)} fitted on the train data set ({ref(Ref('model_versions', v.id))})")
    else:
        c.gap("the lineage from data to model", "It is recorded by the training flow.")
    c.gap("the computational resources used to develop, train, test and validate")
    d_item = Item("2(d)", "Data requirements and datasheets: provenance, scope, labelling, cleaning")
    for d in e.datasets:
        rows = fmt(d.row_count) if d.row_count is not None else "unknown"
        vals = view.failed(d.validation)
        d_item.fact(f"{esc(d.role)}: {esc(d.name)}, {rows} rows, datasheet {code(sheets[d.id])}; validation "
                    f"{len(d.validation)} result(s), {len(vals)} failed ({ref(Ref('dataset_versions', d.id))})")
    if not e.datasets:
        d_item.gap("the data sets used", "They are recorded by the training flow.")
    origin = data.get("origin")
    if origin:
        d_item.fact(f"Provenance, as declared: {esc(origin)} ({_cfg(e, 'data.origin')})")
    else:
        d_item.gap("the provenance of the data", "Set `data.origin`.")
    d_item.gap("how the data was obtained and selected, labelling procedures and cleaning methods")
    return [a, b, c, d_item, _oversight("2(e)", "Assessment of the human oversight measures (Art. 14)", e),
            Item("2(f)", "Pre-determined changes to the system and its performance").gap("pre-determined changes"),
            _testing(e), _security(e)]


def _oversight(key: str, title: str, e: Evidence) -> Item:
    item = Item(key, title)
    item.fact(f"Promotion to production needs a passing gate and approvals by the roles "
              f"{', '.join(code(r) for r in e.required_roles)} (`policy.approvals`, {_cfg(e, 'policy')})")
    for role, a in e.approvals_in_force.items():
        item.fact(f"{code(role)}: {VERBS.get(a.decision, esc(a.decision))} by {esc(a.approver)} (OS user {code(a.os_user)}) at "
                  f"{code(ts(a.decided_at))}: \u201c{esc(a.rationale)}\u201d, evidence hash {code(a.evidence_hash)} "
                  f"({ref(Ref('approvals', a.id))})")
    for role in e.required_roles:
        if role not in e.approvals_in_force:
            item.gap(f"an approval by the role {code(role)}",
                     f"`govflow approve {e.version.label} --as NAME --role {role} --reason TEXT`.")
    item.gap("the technical measures that help deployers interpret the outputs")
    return item


def _testing(e: Evidence) -> Item:
    g = Item("2(g)", "Validation and testing: data, metrics, test logs and reports, dated and signed")
    held_out = e.dataset("held-out")
    if held_out is not None:
        g.fact(f"Test data: held-out {code(held_out.fingerprint)}, {fmt(held_out.row_count)} rows "
               f"({ref(Ref('dataset_versions', held_out.id))})")
    gate = e.checks_of("gate")
    if e.gate_run is not None and gate:
        marks = [view.mark(c) for c in gate]
        counts = {m: marks.count(m) for m in dict.fromkeys(marks)}
        names = ", ".join(code(n) for n in sorted({c.name for c in gate}))
        g.fact(f"Test log: gate run {ref(Ref('runs', e.gate_run.id))} at {code(ts(e.gate_run.started_at))}, "
               f"{len(gate)} results ({', '.join(f'{n} {m}' for m, n in counts.items())}); checks: {names}")
    else:
        g.gap("test results of this version", "Run `govflow run gate -c govflow.yaml`.")
    if e.decision is not None:
        d = e.decision
        g.fact(f"Gate decision {code(d.outcome)} at {code(ts(d.decided_at))} under policy {code(d.policy_hash)} "
               f"({ref(Ref('decisions', d.id))})")
    reports = [a for a in e.artifacts if a.kind == "report"]
    g.facts += [f"Report {esc(a.name)} {code(a.content_hash)} ({ref(Ref('artifacts', a.id))})" for a in reports]
    signed = [a for a in e.approvals if a.decision == "approve"]
    if signed:
        g.fact("Signed off by: " + "; ".join(f"{esc(a.approver)} as {code(a.role)} at {code(ts(a.decided_at))} "
                                             f"({ref(Ref('approvals', a.id))})" for a in signed))
    else:
        g.gap("a dated sign-off of the test results by a responsible person")
    return g


def _security(e: Evidence) -> Item:
    h = Item("2(h)", "Cybersecurity measures")
    h.fact(f"Record integrity: every ledger transaction is hash-chained; chain head at generation seq "
           f"{e.chain_head.seq}, {code(e.chain_head.entry_hash)} ({ref(Ref('audit_log', str(e.chain_head.seq)))}); "
           "stored files are content-addressed (sha256)")
    h.gap("cybersecurity measures for the model and its serving (Art. 15)")
    return h


def section_3(e: Evidence) -> list[Item]:
    perf = e.checks_of("gate", "performance") or e.checks_of("training", "performance")
    fair = e.checks_of("gate", "fairness") or e.checks_of("training", "fairness")
    # Point 3 lists its items without letters; they are cited as "Annex IV 3".
    a = Item("3", "Capabilities and limitations in performance; overall expected accuracy")
    overall = [c for c in perf if not view.is_group_row(c)]
    a.facts += [f"{view.describe(c)} ({ref(Ref('check_results', c.id))})" for c in overall]
    if not overall:
        a.gap("performance results of this version")
    b = Item("3", "Accuracy for specific persons or groups of persons")
    source = f", with the stored by-group table ({ref(Ref('artifacts', e.group_table_ref.id))})" if e.group_table_ref else ""
    for feature, head, body in view.group_tables(perf):
        b.tables.append((f"Performance by {code(feature)}:", head, body))
    specs = e.section("data").get("sensitive_features")
    charts = figures.fairness_figures(fair, e.group_table, e.policy_in_force, specs)
    for feature, head, body in view.group_tables(fair, e.group_table, specs):
        b.tables.append((f"Fairness by {code(feature)}{source}:", head, body))
        if feature in charts:
            b.figures.append(charts[feature])
    if not b.tables:
        b.gap("results per group of persons", "The gate's fairness checks record them per sensitive feature.")
    elif not view.has_group_metrics(fair, e.group_table):
        b.gap("the selection rate, TPR and FPR of each group", "The gate stores them as a by-group table artifact.")
    c = Item("3", "Foreseeable unintended outcomes and sources of risk, incl. discrimination")
    c.facts += [f"{view.describe(x, specs)} ({ref(Ref('check_results', x.id))})" for x in view.failed(fair)]
    c.facts += [f"{view.describe(x, specs)} ({ref(Ref('check_results', x.id))})" for x in view.not_judged(fair)]
    if fair and not c.facts:
        c.fact("No recorded fairness check failed or was too small to judge.")
    if not fair:
        c.gap("a fairness (discrimination) assessment of this version")
    c.gap("sources of risk to health, safety and fundamental rights beyond the measured metrics")
    e_item = Item("3", "Specifications on input data")
    contract = next((x for x in reversed(e.artifacts) if x.kind == CONTRACT_KIND), None)
    if contract is not None:
        e_item.fact(f"Data contract {esc(contract.name)} {code(contract.content_hash)} ({ref(Ref('artifacts', contract.id))})")
    train = e.dataset("train")
    if train is not None and train.schema is not None:
        e_item.fact(f"Training schema: {len(train.schema)} columns, see datasheet {code(datasheet.names(e)[train.id])} "
                    f"({ref(Ref('dataset_versions', train.id))})")
    if not e_item.facts:
        e_item.gap("an input data specification", "The training flow stores the data contract with the version.")
    return [a, b, c, _oversight("3", "Human oversight measures (Art. 14)", e), e_item]


def section_4(e: Evidence) -> list[Item]:
    item = Item("4", "Appropriateness of the performance metrics")
    metrics = [c for c in e.checks_of("gate") if c.kind in ("performance", "fairness") and view.is_metric(c)]
    if metrics:
        item.fact("Metrics and bounds applied: " + "; ".join(
            f"{code(c.name)} on {code(c.subject)} ({esc(c.kind)}), bound {view.bound(c)}"
            for c in metrics)
            + (f" ({ref(Ref('decisions', e.decision.id))})" if e.decision else ""))
    else:
        item.gap("the metrics applied to this version")
    item.gap("a reasoned statement of why these metrics and bounds suit the intended purpose")
    return [item]


def section_5(e: Evidence) -> list[Item]:
    item = Item("5", "Risk management system (Art. 9)")
    item.fact(f"Metrics and thresholds defined before testing: the policy below (`policy:` with its defaults), "
              f"hash {model_card.policy_hash(e) or 'not computable: the recorded policy does not validate'} "
              f"({_cfg(e, 'policy')})")
    item.tables.append(("Policy in force:", ["Policy key", "Value"],
                        [[code(f"policy.{k}"), val(v)] for k, v in flatten(e.policy_in_force)]))
    if e.decision is not None:
        reasons = "; ".join(esc(r) for r in e.decision.reasons) or "no reasons recorded"
        item.fact(f"Tested against them: gate {code(e.decision.outcome)} ({reasons}) ({ref(Ref('decisions', e.decision.id))})")
        change = model_card.policy_change(e)
        if change:
            item.fact(f"The gate policy {change}")
    else:
        item.gap("testing against the policy's thresholds (a gate decision)")
    item.gap("a risk register: the risks identified, estimated and evaluated, and the measures adopted")
    if not e.monitoring_checks:
        item.gap("the evaluation of risks from post-market monitoring data")
    return [item]


def section_6(e: Evidence) -> list[Item]:
    item = Item("6", "Relevant changes through the lifecycle")
    this = e.version
    rows = [[code(f"{s.version}"), code(s.fingerprint), code(ts(s.created_at)),
             "this version" if s.id == this.id else ("same" if s.config_hash == this.config_hash else "different"),
             esc(s.stage or "—"), ref(Ref("model_versions", s.id))] for s in e.versions]
    item.tables.append(("Versions of the system:", ["Version", "Model fingerprint", "Registered",
                                                      "Config vs this version", "Stage", "Record"], rows))
    item.tables.append(("Stage history of this version:", ["Stage", "At", "By", "Reason", "Record"],
                        [[code(s.stage), code(ts(s.at)), esc(s.by), esc(s.reason), ref(Ref("stage_changes", s.id))]
                         for s in e.stages]))
    item.facts += [f"Earlier gate decision {code(d.outcome)} at {code(ts(d.decided_at))} ({ref(Ref('decisions', d.id))})"
                   for d in e.decisions[:-1]]
    if any(s.version < this.version for s in e.versions):
        item.gap("a description of what changed since the previous version, and why")
    return [item]


def section_7_8_9(e: Evidence) -> list[list[Item]]:
    standards = Item("7", "Harmonised standards applied, or the solutions adopted where none applied")
    standards.gap("the harmonised standards or other specifications applied")
    declaration = Item("8", "Copy of the EU declaration of conformity (Art. 47)")
    found = [a for a in e.artifacts if a.kind in DECLARATION_KINDS]
    declaration.facts += [f"{esc(a.name)} {code(a.content_hash)} ({ref(Ref('artifacts', a.id))})" for a in found]
    if not found:
        declaration.gap("an EU declaration of conformity")
    monitoring = Item("9", "Post-market monitoring system and plan (Art. 72)")
    schedule = e.section("monitoring")
    if schedule:
        monitoring.fact(f"Monitoring schedule {code(schedule.get('schedule'))}, window {code(schedule.get('window'))} "
                        f"({_cfg(e, 'monitoring')})")
    results = e.monitoring_checks
    if results:
        monitoring.fact(f"{len(results)} monitoring result(s) recorded for this version, {len(view.failed(results))} "
                        f"failed; latest run {ref(Ref('runs', results[-1].run_id))}")
        drift = [c for c in results if c.kind == "drift"]
        if drift:  # the latest monitoring run that tested drift, column by column
            latest = [c for c in drift if c.run_id == drift[-1].run_id and c.subject != "features"]
            monitoring.figures += [(svg, f"{caption} Run {drift[-1].run_id}.") for svg, caption in figures.drift_charts(latest)]
    else:
        monitoring.gap("monitoring results of this version in use", "Recorded by `govflow run monitor`.")
    monitoring.gap("the post-market monitoring plan (Art. 72(3))")
    return [[standards], [declaration], [monitoring]]


SECTIONS = (
    "General description of the AI system",
    "Detailed description of the elements of the AI system and of the process for its development",
    "Monitoring, functioning and control of the AI system",
    "Appropriateness of the performance metrics",
    "Risk management system",
    "Changes through the lifecycle",
    "Harmonised standards applied",
    "EU declaration of conformity",
    "Post-market monitoring",
)


def render(evidence: Evidence) -> Document:
    e = evidence
    sections = [section_1(e), section_2(e), section_3(e), section_4(e), section_5(e), section_6(e),
                *section_7_8_9(e)]
    title = f"EU AI Act Annex IV technical documentation: {e.version.label}"
    b = Builder("Annex IV")
    header(b, title, e)
    items = [i for s in sections for i in s]
    missing = sum(len(i.gaps) for i in items)
    b.para(f"The nine sections of Annex IV to Regulation (EU) 2024/1689 (Art. 11), {len(items)} items. Each "
           f"statement cites the ledger record it comes from (`table/id`). {missing} points have no recorded "
           "evidence: each is marked GAP where it belongs and listed at the end.")
    for number, (name, items_) in enumerate(zip(SECTIONS, sections), 1):
        b.heading(2, f"{number}. {name} (Annex IV point {number})")
        for item in items_:
            b.heading(3, f"{item.key} {item.title}" if item.key != str(number) else item.title)
            if item.facts:
                b.bullets(item.facts)
            for caption, head, rows in item.tables:
                b.para(caption)
                b.table(head, rows)
            for svg, caption in item.figures:
                b.figure(svg, caption)
            b.where = f"Annex IV {item.key}"
            for what, hint in item.gaps:
                b.gap(f"{what} (Annex IV {item.key})", hint, entry=f"Annex IV {item.key}: {what}")
    gaps = list(b.gaps)
    b.heading(2, "Gaps")
    if gaps:
        b.numbered(esc(g) for g in gaps)  # plain text: the same strings as `Document.gaps`
    else:
        b.para("None: every item cites recorded evidence.")
    doc = document("annex_iv", file_name(e), title, b)
    return Document(doc.kind, doc.name, doc.markdown, doc.html, gaps)
