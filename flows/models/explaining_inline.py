"""Explanations given with the answer: ``serving: {explain: inline}`` in a system's govflow.yaml.

`explain_served` explains each decision a request just made, with the served version's own model and
the input as it was validated (what serving scored and logged), by the same method a later
`govflow explain ID` uses (`govflow.flows.models.explaining.attribute`), and records the explanations
in one audited transaction as each decision's first explanation (`govflow.governance.trail.explain`):
a later `explain` of the decision finds that record and returns it, nothing recomputed. Only under
``inline`` does `govflow serve` call this; at the default (``off``) nothing is computed on the request
path.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pandas as pd

from govflow.flows.models.explaining import attribute, baseline_of
from govflow.governance.ledger.engine import Ledger
from govflow.governance.trail import explain
from govflow.governance.trail import predictions as preds

_BASELINES: dict[str, pd.DataFrame] = {}  # model version id -> its baseline record (read once per process)
_LOCK = threading.Lock()


def wanted(served: Any) -> bool:
    """Whether the served version's config asks for inline explanations (a recommender's has no such key)."""
    return getattr(getattr(served.config, "serving", None), "explain", "off") == "inline"


def _baseline(ledger: Ledger, served: Any) -> pd.DataFrame:
    with _LOCK:
        found = _BASELINES.get(served.version.id)
    if found is None:
        found = baseline_of(ledger, served.version, served.schema)
        with _LOCK:
            _BASELINES[served.version.id] = found
    return found


def explain_served(ledger: Ledger, served: Any, valid: Sequence[preds.ValidRecord], logged: Sequence[Any], *,
                   by: str, record: bool = True) -> list[dict[str, Any]]:
    """The explanation of each decision just made (``logged``: its `PredictionRecord`), recorded when ``record``."""
    answers = []
    for record_in, made in zip(valid, logged):
        frame = served.schema.frame([record_in])
        terms = attribute(ledger, served.version, served.config, served.model, served.schema, frame, made.id,
                          baseline=lambda: _baseline(ledger, served))
        features = {**record_in.features, **(record_in.sensitive if served.schema.needs_sensitive else {})}
        prediction = {"id": made.id, "system": made.system, "model_version_id": made.model_version_id,
                      "served_at": made.served_at, "output_json": made.output_json}
        answers.append(explain.build(prediction=prediction, version=str(served.version), attribution=terms,
                                     features=features, favourable=str(served.config.data.positive_label),
                                     recorded_score=float(made.output["score"])))
    if record and answers:
        for answer, summary in zip(answers, explain.record_new(ledger, [(a, m.payload_hash) for a, m in zip(answers, logged)],
                                                               by=by)):
            answer["recorded"] = summary
    return answers
