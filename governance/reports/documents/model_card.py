"""The model card of a model version (after Mitchell et al., "Model Cards for Model Reporting", 2019).

Sections as in the paper: model details, intended use, factors, metrics, evaluation data, training
data, quantitative analyses (per group, with the policy's bounds), ethical considerations, caveats and
recommendations; plus the instructions for use that EU AI Act Art. 13 asks for (how the logs are
collected, kept and read). Every value comes from `Evidence`; what no record holds is *Not recorded*.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from govflow.governance.registry.policies import changed_bounds, describe_value
from govflow.governance.reports.documents import checks_view as view
from govflow.governance.reports.documents import datasheet, figures
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
from govflow.governance.reports.evidence import GROUP_TABLE_KIND, CheckFact, DatasetFacts, Evidence, Ref
from govflow.governance.trail.attribution import method_for

# Mitigations whose decisions are drawn at random for some people (fairlearn's guarantee holds for the
# randomised classifier), so a decision can contradict "score >= 0.5": the card must say so.
RANDOMISING = ("exponentiated_gradient", "threshold_optimizer")
RANDOMISED = ("Randomised decisions: with {mitigation} a decision is drawn from the mitigated model's probability "
              "(for some groups, between two thresholds), not read off the score at 0.5. Two people with the same "
              "score may receive different decisions, and a decision may be unfavourable with a score above 0.5 or "
              "favourable below it; the score is the probability of the favourable outcome {label}. Every served and "
              "logged decision says so: it carries `\"randomised\": true` beside its label (`decision`), `favourable` "
              "and `score` (with `score_of` {label}). Each logged decision is the one that was served; review a "
              "contested one with `govflow trace prediction ID`.")


def file_name(evidence: Evidence) -> str:
    return f"model-card-{evidence.version.system}-v{evidence.version.version}.md"


def _sensitive(evidence: Evidence) -> list[str]:
    items = []
    for s in evidence.section("data").get("sensitive_features") or []:
        if isinstance(s, Mapping):
            edges = "[" + ", ".join(fmt(x) for x in s["bins"]) + "]" if s.get("bins") else ""
            bins = f" binned at {code(edges)} (left-closed edges)" if edges else ""
            labels = s.get("labels") if isinstance(s.get("labels"), Mapping) else {}
            named = (", groups named " + ", ".join(f"{code(k)} {esc(v)}" for k, v in labels.items())) if labels else ""
            items.append(f"{code(s.get('column'))}{bins}{named}")
        else:
            items.append(code(s))
    return items


def _results(evidence: Evidence, kind: str) -> tuple[str, tuple[CheckFact, ...]]:
    """The gate's results of a kind, else the training run's; with a phrase saying which."""
    for phase, where in (("gate", "the gate run"), ("training", "the training run")):
        found = evidence.checks_of(phase, kind)
        if found:
            return where, found
    return "", ()


def _dataset(b: Builder, d: DatasetFacts | None, what: str, sheets: dict[str, str]) -> None:
    if d is None:
        b.gap(f"the {what} data set", "It is recorded by the training flow's `split_data` task.")
        return
    b.fields([
        ("Data set", f"{esc(d.name)} ({ref(Ref('dataset_versions', d.id))})"),
        ("Fingerprint", code(d.fingerprint)),
        ("Rows", fmt(d.row_count) if d.row_count is not None else None),
        ("Columns", str(len(d.schema)) if d.schema is not None else None),
        ("Origin", esc(d.origin) if d.origin else None),
        ("Datasheet", code(sheets[d.id])),
    ])


def _analyses(b: Builder, e: Evidence, kind: str, title: str) -> None:
    b.heading(3, title)
    where, found = _results(e, kind)
    if not found:
        b.gap(f"{kind} results of this version", "The gate records them on the held-out data.")
        return
    flow = e.gate_run if where == "the gate run" else e.training_run
    tasks = ", ".join(dict.fromkeys(f"{code(c.task)} ({ref(Ref('runs', c.run_id))})" for c in found))
    on = f" ({ref(Ref('runs', flow.id))})" if flow else ""
    b.para(f"As recorded by {where}{on}, task {tasks}, on the held-out data.")
    header_, rows = view.summary_rows(found)
    if rows:
        b.table(header_, rows)
    table = e.group_table if kind == "fairness" else ()
    specs = e.section("data").get("sensitive_features")
    charts = figures.fairness_figures(found, table, e.policy_in_force, specs) if kind == "fairness" else {}
    for feature, head, body in view.group_tables(found, table, specs):
        b.heading(4, f"{title} by group: {code(feature)}")
        if feature in charts:
            b.figure(*charts[feature])
        b.table(head, body)
    if kind == "fairness" and table and e.group_table_ref is not None:
        b.para(f"Group metrics from the stored by-group table ({ref(Ref('artifacts', e.group_table_ref.id))}).")
    if kind == "fairness" and not view.has_group_metrics(found, table):
        b.gap("the selection rate, TPR and FPR of each group",
              f"The fairness check computes them; the gate stores them as a `{GROUP_TABLE_KIND}` artifact.")


def policy_hash(e: Evidence) -> str | None:
    """The policy's hash, and whether the gate decision applied that same policy."""
    if e.policy_hash is None:
        return None
    decision = e.decision
    if decision is None:
        return code(e.policy_hash)
    same = ("the policy the gate decision applied" if decision.policy_hash == e.policy_hash else
            f"differs from the policy the gate decision applied, {code(decision.policy_hash)}")
    record = e.applied_policy.record_id if e.applied_policy is not None else None
    kept = f", recorded in full as {ref(Ref('policies', record))}" if record and decision.policy_hash == e.policy_hash else ""
    return f"{code(e.policy_hash)}: {same} ({ref(Ref('decisions', decision.id))}){kept}"


def policy_change(e: Evidence) -> str | None:
    """How the decision's policy differs from that of the system's gate decision before it, bound by bound."""
    old, new = e.previous_policy, e.applied_policy
    if old is None or new is None or old.policy_hash == new.policy_hash:
        return None
    changes = changed_bounds(old.content, new.content)
    what = ("; ".join(f"{code('policy.' + c['key'])} {esc(describe_value(c['left']))} -> {esc(describe_value(c['right']))}"
                      for c in changes) if changes else "the earlier policy's content is not in the ledger")
    return (f"changed since the previous gate decision of the system ({esc(old.version or '')}, "
            f"{ref(Ref('decisions', old.decision_id or ''))}, policy {code(old.policy_hash[:12])}): {what}")


def _approvals(b: Builder, evidence: Evidence) -> list[str]:
    lines = []
    in_force = evidence.approvals_in_force
    for role in evidence.required_roles:
        a = in_force.get(role)
        if a is None:
            continue
        verb = "approved" if a.decision == "approve" else "rejected"
        lines.append(f"{code(role)}: {verb} by {esc(a.approver)} (OS user {code(a.os_user)}) at {code(ts(a.decided_at))}: "
                     f"\u201c{esc(a.rationale)}\u201d ({ref(Ref('approvals', a.id))})")
    return lines


def _elsewhere(hyperparams: Mapping[str, Any]) -> bool:
    return bool(hyperparams.get("trained_outside_govflow")) and bool(hyperparams.get("estimator"))


def _origin(hyperparams: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """A model registered with `govflow register`: who trained it, who registered it, from which file."""
    if not hyperparams.get("trained_outside_govflow"):
        return []
    file = hyperparams.get("model_file") or {}
    source = (f" from {code(file.get('name'))} ({esc(file.get('format', ''))}, sha256 {code(file.get('sha256'))})"
              if isinstance(file, Mapping) and file.get("name") else "")
    os_user = f" (OS user {code(hyperparams['os_user'])})" if hyperparams.get("os_user") else ""
    mlflow = hyperparams.get("mlflow")
    if isinstance(mlflow, Mapping):
        source = (f" from MLflow {code(mlflow.get('uri'))} (run {code(mlflow.get('run_id'))}, tracking "
                  f"{code(mlflow.get('tracking_uri'))}, logged parameters {code(as_json(dict(mlflow.get('params') or {})))})"
                  + source.replace(" from ", ", file ", 1))
    return [("Trained", f"outside govflow, by {esc(str(hyperparams.get('trained_by') or 'not stated'))}"),
            ("Registered by", f"{esc(str(hyperparams.get('registered_by') or 'not stated'))}{os_user}{source}")]


def _factory(hyperparams: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """The team's own code that built the model (``model.factory``): spec, module version, source hash."""
    factory = hyperparams.get("factory")
    if not isinstance(factory, Mapping):
        return []
    return [("Model factory", f"{code(factory.get('spec'))} (the team's own code: module version "
             f"{code(factory.get('module_version'))}, source sha256 {code(factory.get('source_hash') or 'unavailable')})")]


def render(evidence: Evidence) -> Document:
    e = evidence
    title = f"Model card: {e.version.label}"
    b = Builder("model card")
    header(b, title, e)
    sheets = datasheet.names(e)
    _model_details(b, e)
    _intended_use(b, e)
    sensitive = _factors(b, e)
    _metrics(b, e)
    b.heading(2, "Evaluation data")
    _dataset(b, e.dataset("held-out"), "held-out (evaluation)", sheets)
    b.heading(2, "Training data")
    _dataset(b, e.dataset("train"), "training", sheets)

    b.heading(2, "Quantitative analyses")
    _analyses(b, e, "performance", "Performance")
    _analyses(b, e, "fairness", "Fairness")

    fairness = _ethical_considerations(b, e, sensitive)

    b.heading(2, "Caveats and recommendations")
    _caveats(b, e, fairness)

    b.heading(2, "Instructions for use (EU AI Act Art. 13)")
    b.para(_instructions(e, e.section("logging")))
    return document("model_card", file_name(e), title, b)


def _model_details(b: Builder, e: Evidence) -> None:
    v, system, model = e.version, e.section("system"), e.section("model")
    mv, run = Ref("model_versions", v.id), e.training_run
    b.heading(2, "Model details")
    stage = e.stages[-1] if e.stages else None
    b.fields([
        ("System and version", f"{code(v.label)} ({ref(mv)})"),
        ("Registered", code(ts(v.created_at))),
        ("Current stage", f"{code(stage.stage)} since {code(ts(stage.at))} ({ref(Ref('stage_changes', stage.id))})"
         if stage else None),
        ("Provider", esc(system["provider"]) if system.get("provider") else None),
        *_origin(v.hyperparams),
        ("Model type", code(v.hyperparams["estimator"]) if _elsewhere(v.hyperparams)
         else code(model["estimator"]) if model.get("estimator") else None),
        *_factory(v.hyperparams),
        ("Explanation of a decision (Art. 86, `govflow explain ID`)",
         method_for(model.get("estimator"), mitigated=model.get("mitigation") not in (None, "none")) if not _elsewhere(v.hyperparams)
         else method_for(None)),
        ("Bias mitigation", "none applied by govflow (the model was trained outside it)" if _elsewhere(v.hyperparams)
         else code(model["mitigation"]) if model.get("mitigation") else None),
        ("Hyperparameters", code(as_json(dict(v.hyperparams)))),
        ("Model fingerprint", code(v.fingerprint)),
        ("Model artifact (sha256)", code(v.artifact_hash)),
        ("Registration run" if _elsewhere(v.hyperparams) else "Training run", f"{ref(Ref('runs', run.id))}, code {code(run.code_ref)}" if run and run.code_ref
         else ref(Ref("runs", run.id)) if run else None),
        ("Software", esc(", ".join(f"{k} {val}" for k, val in run.env.items())) if run and run.env else None),
        ("Licence", None),
        ("Contact for questions", None),
    ])


def _intended_use(b: Builder, e: Evidence) -> None:
    system = e.section("system")
    b.heading(2, "Intended use")
    annex = ("annex_iii" in system) and (code(system["annex_iii"]) if system["annex_iii"] else
                                         "none declared (`system.annex_iii` is null)")
    b.fields([
        ("Primary intended use", esc(system["intended_purpose"]) if system.get("intended_purpose") else None),
        ("EU AI Act Annex III point, as declared", annex or None),
        ("Primary intended users", None),
        ("Out-of-scope uses", None),
    ])


def _factors(b: Builder, e: Evidence) -> list[str]:
    """The factors section; returns the sensitive features, as the ethical considerations name them too."""
    data = e.section("data")
    b.heading(2, "Factors")
    sensitive = _sensitive(e)
    if sensitive:
        b.para("Sensitive features evaluated for fairness (`data.sensitive_features`):")
        b.bullets(sensitive)
    else:
        b.gap("sensitive features to evaluate", "Declare them in `data.sensitive_features`.")
    groups = view.groups(_results(e, "fairness")[1], e.group_table)
    specs = data.get("sensitive_features")
    b.fields([
        ("Groups evaluated", "; ".join(f"{code(f)}: {', '.join(view.shown_group(f, x, specs) for x in g)}"
                                       for f, g in groups.items()) if groups else None),
        ("Sensitive attributes given to the model as features",
         fmt(bool(data.get("sensitive_as_features"))) if "sensitive_as_features" in data else None),
        ("Columns kept out of the model", esc(", ".join(map(str, data.get("exclude") or []))) or "none"),
        ("Other relevant factors (instrumentation, environment)", None),
    ])
    return sensitive


def _metrics(b: Builder, e: Evidence) -> None:
    b.heading(2, "Metrics")
    metrics = [c for kind in ("performance", "fairness") for c in _results(e, kind)[1] if view.is_metric(c)]
    if metrics:
        b.table(("Metric", "Kind", "Subject", "Bound"),
                [(code(c.name), esc(c.kind), code(c.subject), view.bound(c)) for c in metrics])
    else:
        b.gap("the metrics this version was measured with")
    fairness_rows = [dict(c.details) for c in _results(e, "fairness")[1]] + [dict(r) for r in e.group_table]
    cis = any(k.endswith("ci") and v for row in fairness_rows for k, v in row.items())
    levels = sorted({fmt(r["confidence_level"]) for r in fairness_rows if r.get("confidence_level")})
    performance = e.policy_in_force.get("performance")
    threshold = performance.get("decision_threshold") if isinstance(performance, Mapping) else None
    b.fields([
        ("Policy hash", policy_hash(e)),
        ("Decision threshold of the classifier",
         f"{fmt(threshold)} (`policy.performance.decision_threshold`)" if threshold is not None else None),
        ("Variation approaches", (f"bootstrap confidence intervals{' at level ' + ', '.join(levels) if levels else ''}, "
                                  "as recorded with the fairness results") if cis else None),
    ])
    change = policy_change(e)
    if change:
        b.para(f"The gate policy {change}.")
    applied = e.applied_policy is not None and e.applied_policy.record_id is not None \
        and e.applied_policy.policy_hash == e.policy_hash
    b.para("The bounds of the policy the gate decision applied (`policy:` with its defaults):" if applied else
           "The bounds of the policy in force (`policy:` with its defaults):")
    b.table(("Policy key", "Value"), [(code(f"policy.{k}"), val(v)) for k, v in flatten(e.policy_in_force)
                                      if k.split(".")[0] in ("fairness", "performance", "approvals")])


def _ethical_considerations(b: Builder, e: Evidence, sensitive: list[str]) -> tuple[CheckFact, ...]:
    """The ethical considerations section; returns the fairness results, as the caveats read them too."""
    data, model = e.section("data"), e.section("model")
    b.heading(2, "Ethical considerations")
    fairness = _results(e, "fairness")[1]
    items = []
    if sensitive:
        uses = "given to the model as features" if data.get("sensitive_as_features") else "kept out of the model's features"
        items.append(f"The data holds the sensitive attributes {', '.join(sensitive)}; they are {uses}.")
    if fairness:
        bad = view.failed(fairness)
        specs = data.get("sensitive_features")
        items += [f"Fairness finding: {view.describe(c, specs)}" for c in bad] or ["No recorded fairness check failed."]
    if model.get("mitigation"):
        items.append(f"Bias mitigation applied when training: {code(model['mitigation'])} (`model.mitigation`).")
    if model.get("mitigation") in RANDOMISING:
        items.append(RANDOMISED.format(mitigation=code(model["mitigation"]), label=code(str(data.get("positive_label")))))
    items.append(b.not_recorded("Risks to health, safety or fundamental rights beyond the measured fairness metrics"))
    b.bullets(items)
    return fairness


def _caveats(b: Builder, e: Evidence, fairness: tuple[CheckFact, ...]) -> None:
    decision = e.decision
    if decision is None:
        b.gap("a gate decision on this version", "Run `govflow run gate -c govflow.yaml`.")
    else:
        b.para(f"Gate decision: **{esc(decision.outcome)}** at {code(ts(decision.decided_at))} "
               f"({ref(Ref('decisions', decision.id))}).")
        if decision.reasons:
            b.bullets(esc(r) for r in decision.reasons)
    approved = _approvals(b, e)
    if approved:
        b.para("Human approvals in force:")
        b.bullets(approved)
    for role in e.required_roles:
        if role not in e.approvals_in_force:
            b.gap(f"an approval by the role {code(role)}",
                  f"Record it with `govflow approve {e.version.label} --as NAME --role {role} --reason TEXT`.")
    items = []
    small = [c for c in view.not_judged(fairness) if view.is_group_row(c)]
    if small:
        specs = e.section("data").get("sensitive_features")
        listed = "; ".join(f"{view.shown_group(view.feature_of(c), fmt(c.details['group']), specs)} of "
                           f"{code(view.feature_of(c))} ({val(c.observed)} rows)" for c in small)
        items.append(f"Groups too small to judge at the policy's minimum group size: {listed}. The disparities "
                     "above leave them out; a passing disparity does not cover them.")
    unjudged = [c for c in view.not_judged(fairness) if not view.is_group_row(c)]
    items += [f"Not judged: {view.describe(c)}" for c in unjudged]
    # Failures that did not block (a blocking one is a reason of the decision above); fairness ones are above.
    phase = "gate" if e.checks_of("gate") else "training"
    items += [f"Below its bound ({phase}): {view.describe(c)}" for c in view.failed(e.checks_of(phase))
              if c.kind != "fairness" and c.severity not in ("critical", "error")]
    held_out = e.dataset("held-out")
    if held_out is not None:
        items.append(f"The quantitative analyses were measured on the held-out data {code(held_out.fingerprint)} "
                     f"({fmt(held_out.row_count)} rows), not on data seen in use; monitoring results are recorded "
                     "separately.")
    if items:
        b.para("Caveats drawn from the records:")
        b.bullets(items)


def _instructions(e: Evidence, logging: Mapping[str, Any]) -> str:
    label = e.version.label
    retention = logging.get("retention_days")
    redact = logging.get("redact") or []
    kept = (f"The inputs are kept apart, for {retention} days (`logging.retention_days`), then purged; "
            if retention is not None else "The retention period of the inputs is not recorded; ")
    redacted = (f"the fields {esc(', '.join(map(str, redact)))} are stored only as salted hashes (`logging.redact`). "
                if redact else "no field is redacted (`logging.redact` is empty). ")
    roles = ", ".join(code(r) for r in e.required_roles)
    return (
        f"Every prediction that `govflow serve` makes with this version is logged automatically in the govflow "
        f"ledger with its prediction id, request id, the model version ({code(label)}), the output, the latency "
        f"and a salted hash of its input. {kept}{redacted}Each ledger transaction is appended to a hash chain, so "
        f"a later change to any record is detectable. To read the logs: `govflow trace prediction ID` shows a "
        f"prediction with the model version, training run, data and approvals behind it; `govflow trace model "
        f"{label}` shows this version's lineage; `govflow verify` recomputes the chain and re-hashes every stored "
        f"document, and `govflow verify --head HASH` checks that a head exported earlier (such as the chain head "
        f"printed on this card) is still in the chain. Human oversight: a version reaches production only through "
        f"`govflow promote`, which requires a passing gate for that exact version and approvals by the roles "
        f"{roles}; the system can be frozen on an incident."
    )
