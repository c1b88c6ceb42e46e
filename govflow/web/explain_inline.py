"""``serving: {explain: inline}`` in `govflow serve`: each decision's explanation in its answer.

`add_explanations` is called by ``POST /predict/{system}`` once the request's predictions are durable.
At the default (``off``) it returns at once (one attribute lookup): nothing is computed on the request
path. Under ``inline`` each prediction of the answer gets ``"explanation"``: the method, the terms
(strongest first), the text and where it is recorded (`govflow.flows.models.explaining_inline`),
computed off the event loop. A decision that cannot be explained (e.g. a version without its stored
reference data) keeps its answer and says why in ``"explanation": {"error": ...}``: the decision
was made and logged; only its explanation is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from starlette.concurrency import run_in_threadpool

from govflow.errors import GovflowError
from govflow.flows.models.explaining_inline import explain_served, wanted

SHOWN = ("method", "log_odds", "score", "base", "terms", "text", "sums")

log = structlog.get_logger("govflow.serve")


async def add_explanations(state: Any, served: Any, valid: Sequence[Any], logged: Sequence[Any],
                           predictions: list[dict[str, Any]], caller: str) -> None:
    """Put each decision's explanation in its entry of ``predictions`` when its version asks for it inline."""
    if not wanted(served):
        return
    try:
        answers = await run_in_threadpool(explain_served, state.ledger, served, valid, logged,
                                          by=f"the person served ({caller}), inline", record=state.record)
    except GovflowError as e:
        log.warning("explain.inline.failed", error=str(e), system=served.version.system)
        for entry in predictions:
            entry["explanation"] = {"error": f"not explained: {e}"}
        return
    for entry, answer in zip(predictions, answers):
        shown = {k: answer[k] for k in SHOWN}
        if "recorded" in answer:
            shown["recorded"] = {k: answer["recorded"][k] for k in ("audit_seq", "at", "artifact")}
        entry["explanation"] = shown
