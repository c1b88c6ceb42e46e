"""The employment story on the real ACS data under govflow's default policy, run once per test session.

`story_run` runs `flows.employment.run_story` with the demo's own configs (data/employment.govflow.yaml
and data/employment-v2.govflow.yaml: nothing relaxed) on a sample of ``PER_YEAR`` people per survey
year, closes its ledger and keeps the home; the monitoring and incident tests open that ledger and
read what happened. The story writes everything it does (refusals included) while it runs, so the
tests only read: a test that changed the shared ledger would change what the others see.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from flows.demo import Story
from flows.employment import CONFIGS, StoryResult, run_story
from flows.recording import set_ledger
from governance.ledger import Ledger

PER_YEAR = 2000  # people served per survey year (the demo serves 20,000; the story's steps are the same)
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
