"""The employment story on the real ACS data under govflow's default policy, run once per test session.

`story_run` runs `govflow.demo.employment.run_story` as the demo does: its configs (data/employment.govflow.yaml
and data/employment-v2.govflow.yaml: nothing relaxed) and its sample of people per survey year; it
closes the ledger and keeps the home; the monitoring and incident tests open that ledger and
read what happened. The story writes everything it does (refusals included) while it runs, so the
tests only read: a test that changed the shared ledger would change what the others see.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from govflow.demo.employment import CONFIGS, DEMO_PER_YEAR, StoryResult, run_story
from govflow.demo.story import Story
from govflow.flows.recording import set_ledger
from govflow.governance.ledger.engine import Ledger

# The demo's own sample, so the tests see what the demo shows (2,000 a year saves only some 20 s of the
# 2.5 minutes, most of which are the two mitigated trainings, and makes the windows small enough for
# fairness noise to alert).
PER_YEAR = DEMO_PER_YEAR
SYSTEM = "employment-screening"
V1, V2 = f"{SYSTEM}:1", f"{SYSTEM}:2"


@dataclass(frozen=True)
class StoryRun:
    home: Path
    result: StoryResult


_RUNS: dict[str, StoryRun] = {}


def story_run(root: Path) -> StoryRun:
    """The session's one run of the story (started by the first test that asks)."""
    if "story" not in _RUNS:
        home = root / "employment-story"
        ledger = Ledger.open(home=home)
        set_ledger(ledger)
        try:
            result = run_story(ledger, home, CONFIGS, per_year=PER_YEAR, story=Story(14))
        finally:
            set_ledger(None)
            ledger.close()
        _RUNS["story"] = StoryRun(home, result)
    return _RUNS["story"]


@contextmanager
def opened(run: StoryRun) -> Iterator[Ledger]:
    """The story's ledger, open for one test (recording points at it)."""
    ledger = Ledger.open(home=run.home)
    set_ledger(ledger)
    try:
        yield ledger
    finally:
        set_ledger(None)
        ledger.close()
