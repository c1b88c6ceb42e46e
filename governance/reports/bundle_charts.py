"""The charts of the bundle's ``report.html``: fairness by group and drift by column, as inline SVG.

The same charts as the documents (`govflow.governance.reports.documents.figures`), drawn from the
exported rows: the by-group table stored with the version (``fairness_by_group``), the config snapshot
(policy bounds, group names) and the drift results of the latest run that tested drift.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

from govflow.governance.reports.documents import figures
from govflow.governance.reports.evidence import CheckFact, effective_policy

Rows = Mapping[str, Sequence[Mapping[str, Any]]]


def _decoded(row: Mapping[str, Any]) -> CheckFact:
    def load(key: str) -> Any:
        text = row.get(key)
        return json.loads(text) if isinstance(text, str) and text else None

    passed = row.get("passed")
    return CheckFact(id=str(row["id"]), run_id=str(row["run_id"]), task="", phase="", kind=str(row["kind"]),
                     name=str(row["name"]), subject=str(row["subject"]), passed=None if passed is None else bool(passed),
                     observed=load("observed_json"), threshold=load("threshold_json"), severity=str(row["severity"]),
                     details=load("details_json") or {})


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{html.escape(caption)}</figcaption></figure>"


def charts_section(plain: Rows, group_table: Sequence[Mapping[str, Any]]) -> list[str]:
    """``<h2 id="charts">`` and its figures; a sentence where nothing was recorded to chart."""
    snapshot = json.loads(plain["model_versions"][0].get("config_snapshot") or "{}")
    data = snapshot.get("data") if isinstance(snapshot.get("data"), Mapping) else {}
    policy, _ = effective_policy(snapshot.get("policy") or {})
    out = ['<h2 id="charts">Fairness and drift</h2>']
    fairness = figures.fairness_figures([], group_table, policy, data.get("sensitive_features"))
    out += [_figure(svg, caption) for svg, caption in fairness.values()]
    checks = [_decoded(r) for r in plain.get("check_results", [])]
    drift = [c for c in checks if c.kind == "drift" and c.subject != "features"]
    if drift:
        latest = drift[-1].run_id
        out += [_figure(svg, f"{caption} Run {latest}.")
                for svg, caption in figures.drift_charts([c for c in drift if c.run_id == latest])]
    if len(out) == 1:
        out.append("<p><em>No per-group fairness table or drift result recorded for this version.</em></p>")
    return out
