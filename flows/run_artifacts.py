"""The Prefect artifacts of a recorded flow, written for the person reading the run page.

A flow's record becomes a summary (ledger run id, fingerprints, how to trace it) and, when its tasks
recorded check results, a table of them: failures first (critical before warnings), then what was
not judged, then what passed; the result, the observed value and its bound in the first columns (a
wide table scrolls, and these are what a reader came for); numbers rounded for people (0.774), the
bound with its direction (``≤ 0.1``, ``≥ 0.8``). The exact values stay in the ledger.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from govflow.flows.recording_publish import artifact_key
from govflow.governance.ledger.runs import RunRecord

# Which side of its threshold a metric must stay on, where its result does not say (details "bound").
DIRECTIONS = {"disparate_impact_ratio": "min", "demographic_parity_difference": "max",
              "equalized_odds_difference": "max", "group_size": "min", "drifted_column_share": "max",
              "out_of_domain_share": "max", "roc_auc": "min"}
FAIL, WARN, NOT_JUDGED, PASS = "FAIL", "FAIL (warning)", "not judged", "PASS"
ORDER = {FAIL: 0, WARN: 1, NOT_JUDGED: 2, PASS: 3}


def rounded(value: Any) -> Any:
    """A number as a person reads it: 3 decimals (3 significant digits below 0.001), no trailing zeros."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if isinstance(value, int) or math.isnan(value) or math.isinf(value):
        return str(value)
    text = f"{value:.3f}" if value == 0 or abs(value) >= 0.001 else f"{value:.3g}"
    return text.rstrip("0").rstrip(".") if "." in text and "e" not in text else text


def bound(check: Any) -> str:
    """The threshold with its direction ("≤ 0.1", "≥ 0.8"); as recorded when the direction is unknown."""
    threshold = check.threshold
    if threshold is None:
        return ""
    details = check.details if isinstance(check.details, dict) else {}
    direction = details.get("bound") or DIRECTIONS.get(check.name) or DIRECTIONS.get(str(details.get("metric")))
    if isinstance(threshold, int | float) and direction in ("min", "max"):
        return f"{'≥' if direction == 'min' else '≤'} {rounded(threshold)}"
    return str(rounded(threshold))


def result_of(check: Any) -> str:
    if check.passed is None:
        return NOT_JUDGED
    if check.passed:
        return PASS
    return FAIL if getattr(check.severity, "value", check.severity) == "critical" else WARN


def checks_table(checks: Iterable[Any]) -> list[dict[str, Any]]:
    """One row per check result, failures first, for the Prefect table artifact."""
    rows = []
    for c in checks:
        kind = getattr(c.kind, "value", c.kind)
        rows.append({"result": result_of(c), "observed": rounded(c.observed), "bound": bound(c),
                     "check": f"{kind}: {c.name}", "subject": c.subject,
                     "severity": getattr(c.severity, "value", c.severity)})
    return sorted(rows, key=lambda row: ORDER[row["result"]])  # stable: recorded order within each result


def flow_artifacts(rec: RunRecord, checks: list[Any]) -> list[tuple[str, str, str, str]]:
    """The Prefect artifacts of a flow's record: a summary, and a table of its tasks' check results."""
    lines = [f"# govflow: {rec.name} ({rec.state})", "", f"* ledger run id: `{rec.run_id}`",
             f"* root run: `{rec.root_run_id}`", f"* code: `{rec.code_ref}`", ""]
    if rec.error_type:
        lines += [f"**Failed**: {rec.error_type}: {rec.error_message}", ""]
    table = checks_table(checks)
    if table:
        counts = {name: sum(1 for r in table if r["result"] == name) for name in ORDER}
        lines += ["**Checks**: " + ", ".join(f"{n} {name}" for name, n in counts.items() if n) +
                  f" (table `{artifact_key(f'govflow-{rec.name}-checks')}`, failures first)", ""]
    for title, refs in (("Inputs", rec.inputs), ("Outputs", rec.outputs)):
        if refs:
            lines += [f"## {title}", "", "| role | kind | fingerprint |", "|---|---|---|"]
            lines += [f"| {r.role} | {r.kind} | `{r.fingerprint}` |" for r in refs]
            lines.append("")
    lines.append("Trace it: `govflow trace run " + rec.run_id + "`")
    artifacts = [("markdown", "\n".join(lines), artifact_key(f"govflow-{rec.name}"), f"govflow ledger record of {rec.name}")]
    if table:
        artifacts.append(("table", json.dumps(table, default=str), artifact_key(f"govflow-{rec.name}-checks"),
                          f"check results recorded by {rec.name}: failures first; exact values in the ledger"))
    return artifacts
