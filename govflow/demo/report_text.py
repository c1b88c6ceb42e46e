"""A monitoring window's report as lines for a terminal: `govflow run monitor` and the demo stories
print the same lines (here, below both, so the demos never import the CLI)."""

from __future__ import annotations

from typing import Any

PRINCIPAL = ("demographic_parity_difference", "disparate_impact_ratio", "equalized_odds_difference")


def _num(value: Any, width: int = 6) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:{width}.3f}"


def report_lines(report: Any, *, groups: bool = True) -> list[str]:
    """A window report as lines for the terminal (shared with the demos)."""
    lines = [f"{report.window.label}  {report.version}: {report.rows} decisions, "
             f"{report.with_outcome} with an outcome, favourable rate {_num(report.favourable_rate, 5).strip()}"
             + (f", {report.purged} purged" if report.purged else "")]
    drift = report.suite("drift")
    if drift is not None:
        share = next(r for r in drift.results if r.name == "drifted_column_share")
        pred = next((r for r in drift.results if r.name == "prediction_drift"), None)
        top = sorted((r for r in drift.results if r.name == "column_drift"),
                     key=lambda r: -(r.observed or 0) if r.details.get("score_kind") == "distance" else (r.observed or 1))[:3]
        lines.append(f"  data drift: {share.observed:.0%} of features drifted (max {share.threshold:.0%}) "
                     f"{'ok' if share.passed else 'ALERT'}; largest: "
                     + ", ".join(f"{r.subject} {r.observed:.3f}" for r in top)
                     + (f"; prediction drift {pred.observed:.3f} (bound {pred.threshold}) {'ok' if pred.passed else 'ALERT'}"
                        if pred is not None else ""))
    performance = report.suite("performance")
    if performance is not None:
        overall = performance.summary.get("overall", {})
        auc = next((r for r in performance.results if r.name == "roc_auc" and r.subject == "overall"), None)
        lines.append(f"  performance: ROC AUC {_num(overall.get('roc_auc')).strip()}, accuracy "
                     f"{_num(overall.get('accuracy')).strip()}"
                     + ("" if auc is None or auc.passed is None else f" ({'ok' if auc.passed else 'ALERT'}, min {auc.threshold})"))
    fairness = report.suite("fairness")
    if fairness is not None:
        for result in fairness.results:
            if result.name in PRINCIPAL and " & " not in result.subject:
                verdict = {True: "ok", False: "ALERT" if result.severity.value == "critical" else "finding", None: "not judged"}[result.passed]
                lines.append(f"  fairness {result.subject:>8}: {result.name:31} {_num(result.observed)} "
                             f"(bound {result.threshold}) {verdict}")
        if groups:
            lines.append(f"    {'group':16} {'n':>6} {'select':>7} {'TPR':>6} {'FPR':>6}")
            for row in fairness.tables.get("by_group", ()):
                if " & " in row["feature"]:
                    continue
                mark = "" if row["judged"] else "  (too small to judge)"
                lines.append(f"    {row['feature'] + '=' + row['group']:16} {row['count']:>6} {_num(row['selection_rate'], 7)} "
                             f"{_num(row['tpr'])} {_num(row['fpr'])}{mark}")
    elif groups and report.decisions_by_group:
        lines.append("  decisions by group (no outcomes yet): " + ", ".join(
            f"{r['feature']}={r['group']} {r['decisions']} ({_num(r['favourable_rate'], 4).strip()})"
            for r in report.decisions_by_group))
    for note in report.not_judged:
        lines.append(f"  not judged: {note}")
    return lines
