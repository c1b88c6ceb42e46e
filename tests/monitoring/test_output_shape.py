"""Outcomes are judged against each logged output's decision and score. A service whose answers were
logged in another shape (an own FastAPI app instrumented without ``outputs=``) is the user's to fix:
exit 2 saying so, not an internal error deep in the metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import pytest

from govflow.errors import InputError
from govflow.flows.monitor import enough_outcomes, outcome_performance
from govflow.governance.config import load_config
from tests.monitoring.system import write_system


def frame(outputs: Sequence[Mapping[str, object]]) -> pd.DataFrame:
    rows = [{"prediction_id": f"p{i}", "decision": o.get("decision"), "score": o.get("score"),
             "outcome": "yes" if i % 2 else "no", "purged": False, "group": "AB"[i % 4 // 2]}
            for i, o in enumerate(outputs)]
    return pd.DataFrame(rows)


def test_outputs_without_a_decision_are_refused_with_the_fix(tmp_path: Path) -> None:
    config = load_config(write_system(tmp_path, n=200))
    current = frame([{"decision": i % 2, "score": 0.9} for i in range(40)] + [{"over_50k": True, "score": 0.7}] * 3)
    with pytest.raises(InputError) as refused:
        enough_outcomes(config, current)
    assert str(refused.value) == (
        f"3 logged prediction(s) of {config.system.name} with an outcome have no decision (0 or 1) and score (a number) "
        'in their output, e.g. prediction p40: monitoring judges outcomes against {"decision", "score"}. '
        "A service recorded through govflow.web.instrument must map its answers to that shape with outputs=.")
    assert refused.value.exit_code == 2


def test_outputs_in_the_recorded_shape_are_judged(tmp_path: Path) -> None:
    config = load_config(write_system(tmp_path, n=200))
    current = frame([{"decision": i % 2, "score": 0.2 + (i % 2) * 0.6} for i in range(60)])
    assert enough_outcomes(config, current) is None
    assert outcome_performance(config, current).results
