"""Explain one logged decision with the exact model version that made it, from its recorded input.

`explain_prediction(ledger, id)` loads the version that answered (its stored bytes, hash-checked, and
the config stored with it), rebuilds the model's input from the payload logged with the prediction
(the training column order and dtypes, as serving built it), splits the decision's log-odds into
per-feature terms (`govflow.governance.trail.attribution`: exact for a logistic regression, sampled
baseline Shapley for any other model or pipeline) and, the first time, records what it showed
(`govflow.governance.trail.explain`). Nothing here runs on the serving path: `govflow serve` computes
an explanation with the answer only under ``serving: {explain: inline}``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pandas as pd

from govflow.errors import ComplianceBlocked, InputError
from govflow.flows.models import tabular as modeling
from govflow.governance.ledger.engine import Ledger
from govflow.governance.registry import versions as registry
from govflow.governance.registry.datasets import feature_columns
from govflow.governance.trail import attribution as attr
from govflow.governance.trail import explain
from govflow.governance.trail import predictions as preds
from govflow.governance.trail.trace import find_prediction

NO_REFERENCE = "{version} has no stored training reference data: its baseline record is unknown; retrain it"


def _load(ledger: Ledger, row: dict[str, Any], ref: registry.VersionRef) -> tuple[Any, Any, preds.InputSchema]:
    from govflow.flows.serving import load_version

    return load_version(ledger, ref, row)


def baseline_of(ledger: Ledger, ref: registry.VersionRef, schema: preds.InputSchema) -> pd.DataFrame:
    """The version's baseline record (from its stored training reference data), for sampled terms."""
    reference_data = registry.attachment(ledger, ref.id, "reference_data")
    if reference_data is None:
        raise ComplianceBlocked(NO_REFERENCE.format(version=ref))
    names = [f.name for f in schema.features]
    return attr.baseline_record(pd.read_parquet(io.BytesIO(reference_data)), names)


def attribute(ledger: Ledger, ref: registry.VersionRef, config: Any, model: Any, schema: preds.InputSchema,
              frame: pd.DataFrame, key: str, baseline: Callable[[], pd.DataFrame] | None = None) -> attr.Attribution:
    """The terms of one row's log-odds: exact when the model is linear, else sampled against the baseline
    (``baseline()``, else read from the version's stored reference data)."""
    if not schema.needs_sensitive:
        exact = attr.linear_attribution(model, frame[feature_columns(config, frame)])
        if exact is not None:
            return exact
    names = [f.name for f in schema.features]
    base = baseline_of(ledger, ref, schema) if baseline is None else baseline()
    return attr.sampled_attribution(lambda batch: modeling.score(config, model, batch)[1], frame, base, names, key=key)


def explain_prediction(ledger: Ledger, given: str, *, by: str, record: bool = True) -> dict[str, Any]:
    """The explanation of one decision (by prediction id, or a single-record request id), recorded the first time.

    `explain.PayloadErased` when the input was purged and no explanation had been given before.
    """
    with ledger.read() as conn:
        found = find_prediction(conn, given)
        row = registry.version_row(conn, found["model_version_id"])
        recorded = explain.find_recorded(conn, found["id"], found["model_version_id"])
        erased = None if found["features_json"] is not None else explain.erased_reason(conn, found["id"], found["payload_hash"])
    ref = registry.VersionRef(row["id"], row["system"], row["version"])
    if json.loads(row["config_snapshot"]).get("kind") == "recommender":
        from govflow.flows.models.recommender_explaining import explain_list

        return explain_list(ledger, found, row, ref, recorded=recorded, erased=erased, by=by, record=record)
    output = json.loads(found["output_json"])
    if not (isinstance(output, dict) and isinstance(output.get("score"), int | float)):
        shape = ", ".join(sorted(output)) if isinstance(output, dict) else type(output).__name__
        raise InputError(explain.NOT_A_DECISION.format(pid=found["id"], shape=f"{{{shape}}}"))
    if erased is not None:
        if recorded is None:
            raise explain.PayloadErased(erased)
        return {"prediction_id": found["id"], "model_version": str(ref), "erased": erased.split(";")[0],
                "recorded": explain.recorded_summary(ledger, recorded)}
    features, sensitive = json.loads(found["features_json"]), json.loads(found["sensitive_json"])
    if recorded is not None:
        return from_record(ledger, found, ref, row, recorded, {**sensitive, **features})
    config, model, schema = _load(ledger, row, ref)
    seen = {**features, **(sensitive if schema.needs_sensitive else {})}
    redacted = sorted(k for k, v in seen.items() if isinstance(v, str) and v.startswith("hmac-sha256:"))
    if redacted:
        raise InputError(explain.REDACTED.format(pid=found["id"], names=", ".join(redacted)))
    frame = schema.frame([preds.ValidRecord(features, sensitive, None)])
    terms = attribute(ledger, ref, config, model, schema, frame, found["id"])
    answer = explain.build(prediction=found, version=str(ref), attribution=terms, features=seen,
                           favourable=str(config.data.positive_label), recorded_score=float(output["score"]))
    if record:
        answer["recorded"] = explain.record_first(ledger, answer, found["payload_hash"], by=by)
    return answer


def from_record(ledger: Ledger, found: dict[str, Any], ref: registry.VersionRef, row: dict[str, Any],
                recorded: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The explanation given before, as recorded (its method and terms; nothing recomputed, no model loaded),
    with the person's values from the kept payload; ``text_as_recorded`` says whether the text re-rendered
    from them hashes to the text that was shown."""
    from govflow.flows.serving import config_of

    summary = explain.recorded_summary(ledger, recorded)
    body = summary["body"]
    terms = attr.Attribution(body["method"], float(body["base"]["value"]), str(body["base"]["is"]),
                             {str(k): float(v) for k, v in body["contributions"].items()}, float(body["log_odds"]))
    answer = explain.build(prediction=found, version=str(ref), attribution=terms, features=values,
                           favourable=str(config_of(row["config_snapshot"]).data.positive_label),
                           recorded_score=float(json.loads(found["output_json"])["score"]))
    answer["recorded"] = summary
    answer["text_as_recorded"] = explain.text_hash(answer["text"]) == body["text_sha256"]
    if not answer["text_as_recorded"]:
        answer["warning"] = ("the text re-rendered from the kept input does not hash to the text shown when this "
                             "explanation was recorded (a value was redacted when logged, or changed): the terms are "
                             "the recorded ones")
    return answer
