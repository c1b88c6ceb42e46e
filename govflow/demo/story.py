"""How the demo stories show themselves on screen: numbered steps with their time, fairness by group."""

from __future__ import annotations

import time
from typing import Any

import typer


class Story:
    """Progress on screen: numbered steps with their elapsed time."""

    def __init__(self, steps: int) -> None:
        self.steps, self.step, self.started = steps, 0, time.perf_counter()

    def begin(self, title: str) -> None:
        self.step += 1
        typer.secho(f"\n[{self.step}/{self.steps}] {title}  (at {self.elapsed()})", bold=True)

    def say(self, text: str = "") -> None:
        typer.echo(f"    {text}" if text else "")

    def elapsed(self) -> str:
        return f"{time.perf_counter() - self.started:.1f} s"


def _fmt(value: Any) -> str:
    return "   -  " if value is None else f"{value:6.3f}"


def show_fairness(story: Story, outcome: Any, selection: str = "share given credit") -> None:
    fairness = next((s for s in outcome.suites if s.kind.value == "fairness"), None)
    if fairness is None:
        story.say("fairness: not assessed (the check errored; the gate failed closed)")
        return
    story.say(f"fairness on the held-out data, per group (selection rate = {selection}):")
    story.say(f"{'group':58} {'n':>4} {'select':>6} {'TPR':>6} {'FPR':>6}")
    for row in fairness.tables.get("by_group", ()):
        if " & " in row["feature"]:
            continue
        mark = "" if row["judged"] else "  too small to judge"
        story.say(f"{row['feature'] + '=' + row['group']:58.58} {row['count']:>4} {_fmt(row['selection_rate'])} "
                  f"{_fmt(row['tpr'])} {_fmt(row['fpr'])}{mark}")
    story.say("against the policy's bounds:")
    for result in fairness.results:
        if result.name in ("demographic_parity_difference", "disparate_impact_ratio", "equalized_odds_difference") \
                and " & " not in result.subject:
            verdict = {True: "pass", False: "FAIL", None: "not judged"}[result.passed]
            bound = "max" if result.name != "disparate_impact_ratio" else "min"
            story.say(f"  {result.name:32} {result.subject:26} {_fmt(result.observed)}  ({bound} {result.threshold})  {verdict}")
