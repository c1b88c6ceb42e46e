"""The model that answers for a system: its version in production, ready to score, check and log.

`load_production(ledger, system)` gives the `ServedModel` of a system: its production version, the
config stored with that version (so serving needs no -c), the model bytes (hash-checked), the input
schema from its data contract and training columns, and the system's redaction of logged fields.
Shared by `govflow serve` (`govflow.web.app`) and the batch flow (`govflow.flows.score`); it imports no Prefect.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select

from govflow import canonical as canon
from govflow.errors import ComplianceBlocked, DataError, InputError
from govflow.flows.models import tabular as modeling
from govflow.governance.config import GovflowConfig, parse_config
from govflow.governance.ledger.chained import chained
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import ModelVersion, StageChange
from govflow.governance.registry import versions as registry
from govflow.governance.registry.datasets import feature_columns
from govflow.governance.trail import predictions as preds
from govflow.governance.trail.decisions import DecisionLabels, labels_for

UNKNOWN_SYSTEM = "unknown system '{system}': no model versions are recorded for it{known}"
NEVER_PROMOTED = "{system} has no version in production: none has been promoted yet (govflow promote {system}:VERSION)"
LEFT_PRODUCTION = "{system} has no version in production: {ref} was {stage} at {at} by {by}: {reason}"
FROZEN = "; the system is frozen (incident {incident})"
MISSING_COLUMNS = "{file}: column(s) {names} missing: {version} needs its features {all}"


class UnknownSystem(InputError):
    """No model version of this system is recorded."""


class NotInProduction(ComplianceBlocked):
    """The system has no version in production (never promoted, suspended, retired)."""


@dataclass(frozen=True)
class ServedModel:
    """What answers for a system: its production version and everything needed to score and log."""

    version: registry.VersionRef
    config: GovflowConfig
    model: Any
    schema: preds.InputSchema
    redaction: preds.Redaction
    labels: DecisionLabels

    def predict(self, valid: list[preds.ValidRecord]) -> list[dict[str, Any]]:
        """One output per record: ``{"decision": LABEL, "favourable": bool, "score": P(favourable), "score_of":
        LABEL}`` (`govflow.governance.trail.decisions`), ``"randomised": true`` for a model that draws its
        decisions, plus ``"out_of_domain": [fields]`` when some of its values lay outside the training
        range or set (the logged record keeps it)."""
        decisions, scores = modeling.score(self.config, self.model, self.schema.frame(valid))
        return preds.flag_out_of_domain(self.labels.outputs(decisions, scores), valid)


def config_of(snapshot_json: str) -> GovflowConfig:
    snapshot = dict(json.loads(snapshot_json))
    base_dir = Path(snapshot.pop("base_dir", "") or ".")
    return parse_config(snapshot, base_dir, source="the config stored with the version")


def why_not_serving(ledger: Ledger, system: str) -> str:
    """The reason a system has no version in production, for the 503."""
    with ledger.read() as conn:
        known = conn.execute(select(ModelVersion.id).where(ModelVersion.system == system).limit(1)).first()
        if known is None:
            systems = sorted(set(conn.execute(select(ModelVersion.system)).scalars()))
            shown = f" (systems: {', '.join(systems)})" if systems else ""
            raise UnknownSystem(UNKNOWN_SYSTEM.format(system=system, known=shown))
        last = conn.execute(
            select(StageChange, ModelVersion.version).join(ModelVersion, ModelVersion.id == StageChange.model_version_id)
            .where(ModelVersion.system == system, StageChange.stage.in_(("suspended", "retired")), chained(StageChange))
            .order_by(StageChange.audit_seq.desc()).limit(1)).mappings().first()
        state, incident = registry.system_state(conn, system)
    reason = (NEVER_PROMOTED.format(system=system) if last is None else LEFT_PRODUCTION.format(
        system=system, ref=f"{system}:{last['version']}", stage=last["stage"], at=canon.format_ts(last["at"]),
        by=last["by"], reason=last["reason"]))
    return reason + (FROZEN.format(incident=incident) if state == "frozen" else "")


def production_row(ledger: Ledger, system: str) -> tuple[registry.VersionRef, Any]:
    """The system's production version and its registry row; `UnknownSystem` / `NotInProduction` else."""
    with ledger.read() as conn:
        ref = registry.production_version(conn, system)
        row = registry.version_row(conn, ref.id) if ref else None
    if ref is None or row is None:
        raise NotInProduction(why_not_serving(ledger, system))
    return ref, row


def load_production(ledger: Ledger, system: str) -> Any:
    """The system's production version, ready to score; `UnknownSystem` / `NotInProduction` else.

    A classifier (a govflow.yaml system) gives a `ServedModel`; a recommender (``kind: recommender``
    in its stored config) the `govflow.flows.recommender_flow.ServedRecommender`, which has the same fields
    and a ``predict`` whose outputs are its recommendation lists.
    """
    ref, row = production_row(ledger, system)
    if json.loads(row["config_snapshot"]).get("kind") == "recommender":
        from govflow.flows.recommender_flow import load_served

        return load_served(ledger, ref, row)
    config, model, schema = load_version(ledger, ref, row)
    redaction = preds.redaction_for(ledger.home, system, config.logging.redact)
    return ServedModel(ref, config, model, schema, redaction, decision_labels(ledger, ref, config, model))


def decision_labels(ledger: Ledger, ref: registry.VersionRef, config: GovflowConfig, model: Any) -> DecisionLabels:
    """The labels a version decides between: its positive label and the target's other value, as its
    stored data contract records the target (else the complement of a 0/1 or boolean label)."""
    contract = registry.attachment(ledger, ref.id, "data_contract")
    target = json.loads(contract).get("columns", {}).get(config.data.target, {}) if contract else {}
    return labels_for(config.data.positive_label, target.get("allowed"), randomised=modeling.randomises(model))


def load_version(ledger: Ledger, ref: registry.VersionRef, row: Any) -> tuple[GovflowConfig, Any, preds.InputSchema]:
    """A classifier version's config, model (its stored bytes hash-checked first) and input schema."""
    problem = ledger.artifacts.problem(row["artifact_hash"])
    if problem:
        raise ComplianceBlocked(f"cannot load the model of {ref}: {problem}")
    config = config_of(row["config_snapshot"])
    model = modeling.load_model(ledger.artifacts.read(row["artifact_hash"]), config)
    schema = input_schema(ledger, ref, config, needs_sensitive=bool(getattr(model, "needs_sensitive", False)))
    return config, model, schema


def input_schema(ledger: Ledger, ref: registry.VersionRef, config: GovflowConfig, *,
                 needs_sensitive: bool) -> preds.InputSchema:
    """A version's input schema, from its stored data contract and held-out data's columns."""
    contract_data = registry.attachment(ledger, ref.id, "data_contract")
    holdout = registry.attachment(ledger, ref.id, "holdout_data")
    if contract_data is None or holdout is None:
        raise ComplianceBlocked(f"{ref} has no stored data contract or held-out data: its input schema is unknown; retrain it")
    import pyarrow as pa
    import pyarrow.parquet as pq

    empty = pq.read_schema(pa.BufferReader(holdout)).empty_table().to_pandas()
    return preds.InputSchema.build(
        version=str(ref), contract=json.loads(contract_data),
        columns=[(str(c), str(d)) for c, d in empty.dtypes.items()], feature_names=feature_columns(config, empty),
        sensitive_names=[s.column for s in config.data.sensitive()],
        needs_sensitive=needs_sensitive, id_column=config.data.id_column, out_of_domain=config.serving.out_of_domain)


TEXT_TYPES = ("string", "category", "datetime")


def with_schema_types(frame: pd.DataFrame, schema: preds.InputSchema, csv_file: Path | None) -> pd.DataFrame:
    """A file's columns as the input schema types them, not as pandas guessed them from the text.

    Categorical codes written as numbers (``SCHL`` 24) are read back from the CSV as the text they are
    (leading zeros kept); an integer column with a missing value, which pandas reads as floats, holds
    integers again. Anything else is left for the schema to judge.
    """
    specs = {f.name: f for f in (*schema.features, *schema.sensitive) if f.name in frame.columns}
    as_text = [n for n, f in specs.items() if f.type in TEXT_TYPES and not _texty(frame[n])]
    out = frame
    if as_text:
        out = frame.copy()
        if csv_file is not None:
            text = pd.read_csv(csv_file, usecols=as_text, dtype=str, keep_default_na=True)
            for name in as_text:
                out[name] = text[name].astype(object).where(text[name].notna(), None)
        else:  # parquet keeps its own types: numbers become their shortest text
            for name in as_text:
                out[name] = [None if _missing(v) else str(int(v)) if _integral(v) else str(v) for v in frame[name]]
    for name, spec in specs.items():
        column = out[name]
        if spec.type == "integer" and pd.api.types.is_float_dtype(column) and all(
                _missing(v) or float(v).is_integer() for v in column):
            out = out.copy() if out is frame else out
            out[name] = pd.Series([None if _missing(v) else int(v) for v in column], index=column.index, dtype=object)
    out.attrs.update(frame.attrs)
    return out


def _texty(column: pd.Series) -> bool:
    return bool(pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)
                or isinstance(column.dtype, pd.CategoricalDtype))


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _integral(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer()


def records_of(frame: pd.DataFrame, schema: preds.InputSchema) -> tuple[list[dict[str, Any]], list[str]]:
    """A file's rows as request records (sensitive columns into ``sensitive``); the columns ignored."""
    features = [f.name for f in schema.features]
    sensitive = [f.name for f in schema.sensitive if f.name in frame.columns and f.name not in features]
    keep = set(features) | set(sensitive) | ({schema.id_column} if schema.id_column else set())
    ignored = [str(c) for c in frame.columns if c not in keep]
    rows = frame[[c for c in frame.columns if c in keep]].to_dict("records")
    records = []
    for row in rows:
        clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        record = {k: v for k, v in clean.items() if k not in sensitive}
        if sensitive:
            record["sensitive"] = {k: clean[k] for k in sensitive}
        records.append(record)
    return records, ignored


def check_input(frame: pd.DataFrame, schema: preds.InputSchema, file: str) -> tuple[list[preds.ValidRecord], list[str]]:
    """Every row validated; a file that does not fit is refused whole (`DataError`, exit 2)."""
    missing = [f.name for f in schema.features if f.name not in frame.columns]
    if missing:
        raise DataError(MISSING_COLUMNS.format(file=file, names=", ".join(missing), version=schema.version,
                                               all=", ".join(f.name for f in schema.features)))
    records, ignored = records_of(frame, schema)
    try:
        valid = schema.validate(records, limit=5)
    except preds.RecordError as e:
        shown = "; ".join(f"row {loc[2]}: {msg.split('.', 1)[1] if msg.startswith('records[') else msg}" for loc, msg, _ in e.errors)
        raise DataError(f"{file}: rows do not fit the input schema of {schema.version}; nothing was scored: {shown}") from e
    return valid, ignored
