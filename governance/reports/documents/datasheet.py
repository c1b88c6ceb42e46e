"""A datasheet per data set version (after Gebru et al., "Datasheets for Datasets", 2021).

Filled only from what the ledger records about the data set: its fingerprint, schema, row count,
location, the provenance declared in the config (``data.origin``), the run that produced it, the runs
that read it and its validation results. Every question of the datasheet that no record answers is
shown as *Not recorded* and listed as a gap.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from govflow.governance.reports.documents import checks_view as view
from govflow.governance.reports.documents import figures
from govflow.governance.reports.documents.render import (
    Builder,
    Document,
    code,
    document,
    esc,
    fmt,
    header,
    ref,
    ts,
)
from govflow.governance.reports.evidence import DatasetFacts, Evidence, Ref

PURPOSE = {
    "source": "loaded by the training flow of {label}; the train and held-out splits were made from it",
    "train": "the data {label} was fitted on",
    "held-out": "the held-out data {label} was evaluated and gated on",
    "input": "read by a recorded step of the training or gate of {label}",
}


def names(evidence: Evidence) -> dict[str, str]:
    """File name of each data set's datasheet, by data set id."""
    counts = Counter(d.role for d in evidence.datasets)
    seen: Counter[str] = Counter()
    found = {}
    for d in evidence.datasets:
        seen[d.role] += 1
        role = d.role if counts[d.role] == 1 else f"{d.role}-{seen[d.role]}"
        found[d.id] = f"datasheet-{evidence.version.system}-v{evidence.version.version}-{role}.md"
    return found


def _column_role(column: str, evidence: Evidence) -> str:
    data = evidence.section("data")
    sensitive = {s if isinstance(s, str) else s.get("column") for s in data.get("sensitive_features") or []}
    if column == data.get("target"):
        return "target (label)"
    if column in sensitive:
        return "sensitive attribute" + ("" if data.get("sensitive_as_features") else ", kept out of the model")
    if column == data.get("id_column"):
        return "row id, kept out of the model"
    if column in (data.get("exclude") or []):
        return "excluded from the model"
    return "feature"


def _validation(b: Builder, d: DatasetFacts) -> None:
    """Counts per check and run, then every result that did not pass in full (the rest is in the ledger)."""
    counts: dict[tuple[str, str, str], Counter[str]] = {}
    for c in d.validation:
        counts.setdefault((c.phase, c.task, c.run_id), Counter())[view.mark(c)] += 1
    b.table(("Phase", "Task", "Results", "Run"), [
        (esc(phase), code(task), esc(", ".join(f"{n} {m}" for m, n in marks.items())), ref(Ref("runs", run)))
        for (phase, task, run), marks in counts.items()])
    other = [c for c in d.validation if c.passed is not True]
    if other:
        b.table(*view.summary_rows(other, phase=True))
    else:
        b.para(f"Every one of the {len(d.validation)} results passed; each is a `check_results` row of the run cited.")


def render(evidence: Evidence, d: DatasetFacts, name: str) -> Document:
    v = evidence.version
    data = evidence.section("data")
    title = f"Datasheet: {d.name}"
    b = Builder("datasheet")
    dv = Ref("dataset_versions", d.id)
    header(b, esc(title), evidence, [("**Data set version**", f"{esc(d.name)}, {code(d.fingerprint)} ({ref(dv)})")])

    b.heading(2, "Motivation")
    system = evidence.section("system")
    b.fields([
        ("Recorded use", PURPOSE.get(d.role, PURPOSE["input"]).format(label=code(v.label))),
        ("Purpose of the system", esc(system["intended_purpose"]) if system.get("intended_purpose") else None),
        ("Who created the data set, on whose behalf", None),
        ("Funding", None),
    ])

    b.heading(2, "Composition")
    target = data.get("target")
    b.fields([
        ("Rows", fmt(d.row_count) if d.row_count is not None else None),
        ("Columns", str(len(d.schema)) if d.schema is not None else None),
        ("Label", f"{code(target)}, favourable outcome {code(data.get('positive_label'))}" if target else None),
        ("Content fingerprint", f"{code(d.fingerprint)} (over every cell and the schema)"),
        ("Missing values", _missing(d)),
        ("Errors, noise", "see the validation results below" if d.validation else None),
        ("Personal or confidential data beyond the declared sensitive attributes", None),
    ])
    if d.schema is not None:
        b.table(("Column", "Type", "Use"), [(code(c), code(t), esc(_column_role(c, evidence))) for c, t in d.schema])
    else:
        b.gap("the schema of this data set", "It is recorded when a recorded step reads or writes the frame.")
    _statistics(b, d, evidence)

    _collection_process(b, d)
    _preprocessing(b, d, data)

    b.heading(2, "Uses")
    if d.used_by:
        b.table(("Phase", "Task", "Run"), [(esc(u.phase), code(u.task), ref(Ref("runs", u.run_id))) for u in d.used_by])
    else:
        b.para("No recorded step read this data set.")
    b.fields([("Uses to avoid", None), ("Other tasks the data set could be used for", None)])

    b.heading(2, "Distribution")
    b.fields([("Licence and terms of use", None), ("Distributed to third parties", None)])

    b.heading(2, "Maintenance")
    b.para(
        f"This data set version is identified by its content fingerprint {code(d.fingerprint)}: any change to a cell, "
        "a column or a type makes a new version with a new fingerprint, and recorded versions are never altered "
        "(the ledger is append-only and hash-chained; `govflow verify` checks it)."
    )
    b.fields([("Maintainer and contact", None), ("Update schedule", None)])
    return document("datasheet", name, title, b)


def _collection_process(b: Builder, d: DatasetFacts) -> None:
    b.heading(2, "Collection process")
    produced = d.produced_by
    b.fields([
        ("Origin (declared in govflow.yaml `data.origin`)", esc(d.origin) if d.origin else None),
        ("Location", code(d.uri) if d.uri else None),
        ("Copy stored with the model version", f"{code(d.stored_copy.kind)} {esc(d.stored_copy.name)}, sha256 "
         f"{code(d.stored_copy.content_hash)} ({ref(Ref('artifacts', d.stored_copy.id))})" if d.stored_copy else
         "none" if d.role not in ("train", "held-out") else None),
        ("First recorded", f"{code(ts(d.created_at))}"
         + (f", written by task {code(produced.task)} ({ref(Ref('runs', produced.run_id))})" if produced else "")),
        ("How, when and by whom the data was collected; sampling", None),
        ("Ethical review, consent of the people in the data", None),
    ])


def _preprocessing(b: Builder, d: DatasetFacts, data: Mapping[str, Any]) -> None:
    produced = d.produced_by
    b.heading(2, "Preprocessing, cleaning, labelling")
    derived = None
    if d.derived_from:
        derived = f"{code(d.derived_from)} by task {code(produced.task if produced else 'unknown')}"
        if d.role in ("train", "held-out"):
            derived += (f": seeded split, held-out share {code(fmt(data.get('test_size')))}, "
                        f"seed {code(fmt(data.get('seed')))} (`data.test_size`, `data.seed`)")
    b.fields([
        ("Derived from", derived if d.derived_from else (
            f"no recorded parent data set; read from its location by task {code(produced.task)}"
            if d.role == "source" and produced else None)),
        ("Labelling procedure", None),
        ("Cleaning (outliers, missing values)", None),
    ])
    b.heading(3, "Validation results")
    if d.validation:
        _validation(b, d)
    else:
        b.gap("validation of this data set", "Validation runs in the training flow's `validate_data` task.")


def _missing(d: DatasetFacts) -> str | None:
    if d.statistics is None:
        return None
    gaps = [(s.column, s.missing) for s in d.statistics if s.missing]
    cells = sum(s.count + s.missing for s in d.statistics)
    if not gaps:
        return f"none: every one of the {cells:,} cells holds a value"
    listed = ", ".join(f"{code(c)} {n:,}" for c, n in gaps)
    return f"{sum(n for _, n in gaps):,} of {cells:,} cells, in {len(gaps)} column(s): {listed}"


def _exact(value: float | None) -> str:
    """An extreme as recorded: whole numbers in full (18424, not 1.842e+04), others to 4 significant digits."""
    if value is None:
        return "—"
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else fmt(value)


def _statistics(b: Builder, d: DatasetFacts, evidence: Evidence) -> None:
    """Per-column statistics, then the rows per sensitive group against the policy's minimum group size."""
    b.heading(3, "Per-column statistics")
    if d.statistics is None:
        b.gap("per-column statistics of this data set",
              "They are computed from the copy of the data stored with the version (train and held-out splits).")
        return
    b.para(f"Computed from {esc(d.statistics_from)}, whose content the ledger holds by hash.")
    b.table(("Column", "Type", "Count", "Missing", "Min", "Max", "Mean", "Most frequent values"), [
        (code(s.column), code(s.dtype), f"{s.count:,}", f"{s.missing:,}", _exact(s.minimum), _exact(s.maximum), fmt(s.mean),
         esc("; ".join(f"{v} ({n})" for v, n in s.top)) if s.top else "—") for s in d.statistics])
    fairness = evidence.policy_in_force.get("fairness")
    minimum = fairness.get("min_group_size") if isinstance(fairness, Mapping) else None
    specs = evidence.section("data").get("sensitive_features")
    for feature, counts in d.group_counts:
        chart = figures.group_size_chart(feature, counts, minimum, specs)
        if chart is not None:
            b.figure(*chart)
