"""The recommendation scenario end to end: a recorded training flow, and serving through the trail.

`train_recommender_flow` (``govflow recommender train -c FILE``) loads the ratings, users and items,
holds out each user's latest rating, fits `govflow.flows.models.recommender.ImplicitSVD`, evaluates it against
the popularity baseline overall and per user group, registers it as a candidate version through
`govflow.governance.registry.versions.register_version` (with its item catalogue, for exposure reports, and its
input contract) and records the gate decision from the evaluation. Approval and promotion are the
normal `govflow approve` / `govflow promote`.

`ServedRecommender` answers like `govflow.flows.score.ServedModel` (same fields, same ``predict``), so the
prediction service can serve a recommender as it serves a classifier; `recommend` scores records
and logs them with `govflow.governance.trail.predictions.write_predictions`: each prediction row holds the
recommended list ``{"items": [...], "scores": [...], "cold_start": bool}`` and the user's
sensitive attributes go to the payload table, apart from the features.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from govflow import canonical as canon
from govflow.checks.policy import Policy
from govflow.checks.results import SuiteResult
from govflow.errors import ComplianceBlocked, ConfigError
from govflow.flows.models import recommender as rec
from govflow.flows.models import tabular as modeling
from govflow.flows.recording import current_run_id, flow, get_ledger, link_model_version, task
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.fingerprint import fingerprint_model
from govflow.governance.ledger.ids import new_id
from govflow.governance.registry import versions as registry
from govflow.governance.registry.policy_in_force import require as require_policy_in_force
from govflow.governance.trail import predictions as preds

CATALOG = "item_catalog"


def load_recommender_config(path: str | Path) -> rec.RecommenderConfig:
    file = Path(path)
    if not file.exists():
        raise ConfigError(f"config file {file} not found; `govflow data fetch movielens-100k` writes one")
    from govflow.governance.strict_yaml import load_yaml

    return parse_recommender_config(load_yaml(file), file.parent.absolute(), str(file))


def parse_recommender_config(raw: Any, base_dir: Path, source: str) -> rec.RecommenderConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping with kind: recommender, system:, data: at the top")
    try:
        config = rec.RecommenderConfig.model_validate({**raw, "base_dir": str(base_dir)})
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = "unknown key" if first["type"] == "extra_forbidden" else str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{source}: {where}: {message}") from None
    Policy.from_mapping(config.policy)  # the shared policy keys, validated as everywhere
    return config


def gate_policy(config: rec.RecommenderConfig) -> dict[str, Any]:
    """What a recommender's gate records as its policy, and what must be in force for it: the shared
    policy keys (fully defaulted) and the offline evaluation bounds (``evaluation:``), both governed."""
    return {"policy": Policy.from_mapping(config.policy).to_dict(), "evaluation": config.evaluation.model_dump(mode="json")}


def is_recommender(snapshot: dict[str, Any]) -> bool:
    return snapshot.get("kind") == rec.KIND


# -- the recorded flow -----------------------------------------------------------------------------

@dataclass(frozen=True)
class RecommenderOutcome:
    version: str
    model_version_id: str
    gate: str  # pass | block
    evaluation: SuiteResult

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "model_version_id": self.model_version_id, "gate": self.gate,
                **self.evaluation.summary}


@task
def load_config_file(config_file: Path) -> rec.RecommenderConfig:
    return load_recommender_config(config_file)


@task
def load_table(config: rec.RecommenderConfig, kind: str) -> pd.DataFrame:
    """One of the atomic files (its content is fingerprinted as this step's output)."""
    return rec.read_atomic(config.path(kind), kind)


@task
def split_ratings(ratings: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    return rec.leave_last_out(ratings)


@task
def fit_recommender(config: rec.RecommenderConfig, train: pd.DataFrame) -> rec.ImplicitSVD:
    return rec.fit(config, train)


@task
def evaluate_recommender(config: rec.RecommenderConfig, model: rec.ImplicitSVD, test: pd.DataFrame,
                         users: pd.DataFrame) -> SuiteResult:
    return rec.evaluate(config, model, test, users)


def input_contract(config: rec.RecommenderConfig, users: pd.DataFrame) -> dict[str, Any]:
    """What a request may carry: a user id (the feature; a number when every known id is one, as in
    MovieLens) and the user's sensitive attributes. Unknown ids are allowed: they get the cold start."""
    numeric = bool(users["user_id"].str.fullmatch(r"\d+").all())
    columns: dict[str, Any] = {"user_id": {"type": "integer" if numeric else "string", "max_null_rate": 0.0}}
    for feature in config.sensitive():
        if feature.column not in users.columns:
            continue
        values = users[feature.column]
        numbers = pd.to_numeric(values, errors="coerce")
        if numbers.notna().all():
            columns[feature.column] = {"type": "integer", "min": int(numbers.min()), "max": int(numbers.max()),
                                       "max_null_rate": 0.0}
        else:
            columns[feature.column] = {"type": "category", "allowed": sorted(values.unique().tolist()),
                                       "max_null_rate": 0.0}
    return {"columns": columns}


@task
def register_recommender(config: rec.RecommenderConfig, model: rec.ImplicitSVD, items: pd.DataFrame,
                         ratings: pd.DataFrame, users: pd.DataFrame, training_run_id: str) -> str:
    """A new candidate version: the model, its item catalogue and its input contract."""
    def attach(kind: str, name: str, value: Any) -> registry.Attachment:
        return registry.Attachment(kind, name, json.dumps(value, sort_keys=True).encode("utf-8"), "application/json")

    version = registry.register_version(
        get_ledger(), system=config.system.name, model_data=modeling.model_bytes(model),
        fingerprint=fingerprint_model(model), training_run_id=training_run_id,
        hyperparams={"estimator": config.model.estimator, "factors": config.model.factors, "top_n": config.model.top_n,
                     "seed": config.data.seed},
        config_snapshot=config.snapshot(),
        attachments=[attach(CATALOG, "item_catalog.json", rec.item_catalog(items, ratings)),
                     attach("data_contract", "input_contract.json", input_contract(config, users))],
        by=registry.os_user())
    return str(version)


@task
def gate_recommender(config: rec.RecommenderConfig, version: str, evaluation: SuiteResult) -> SuiteResult:
    """Record pass or block for this exact version from its evaluation (critical results only)."""
    ledger = get_ledger()
    with ledger.read() as conn:
        ref = registry.resolve(conn, version)
    reasons = [f"{r.name} on {r.subject}: {r.observed:.3f} not above {r.threshold:.3f}"
               for r in evaluation.results if r.failed and r.severity.value == "critical"]
    registry.record_decision(ledger, ref, outcome="pass" if evaluation.passed else "block", reasons=reasons,
                             policy=gate_policy(config), run_id=current_run_id())
    return evaluation  # returned, so its results are recorded again, linked to the version


@flow(name="train-recommender")
def train_recommender_flow(config_path: str) -> RecommenderOutcome:
    config = load_config_file(Path(config_path).absolute())
    with get_ledger().read() as conn:  # a changed policy stops here, before training (as the tabular gate does)
        require_policy_in_force(conn, config.system.name, gate_policy(config), source=config_path)
    ratings = load_table(config, "inter")
    users = load_table(config, "user")
    items = load_table(config, "item")
    train, test = split_ratings(ratings)
    model = fit_recommender(config, train)
    evaluation = evaluate_recommender(config, model, test, users)
    run_id = current_run_id()
    assert run_id is not None
    version = register_recommender(config, model, items, train, users, run_id)
    with get_ledger().read() as conn:
        ref = registry.resolve(conn, version)
    link_model_version(ref.id)
    gate_recommender(config, version, evaluation)
    return RecommenderOutcome(version=version, model_version_id=ref.id,
                              gate="pass" if evaluation.passed else "block", evaluation=evaluation)


# -- serving ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ServedRecommender:
    """A recommender in production, with the fields of `govflow.flows.score.ServedModel`."""

    version: registry.VersionRef
    config: rec.RecommenderConfig
    model: rec.ImplicitSVD
    schema: preds.InputSchema
    redaction: preds.Redaction

    def predict(self, valid: list[preds.ValidRecord]) -> list[dict[str, Any]]:
        """One output per record: ``{"items": [...], "scores": [...], "cold_start": bool}``."""
        out = []
        for record in valid:
            items, scores, cold = self.model.recommend(str(record.features["user_id"]), self.config.model.top_n)
            out.append({"items": items, "scores": scores, "cold_start": cold})
        return preds.flag_out_of_domain(out, valid)


def load_served(ledger: Ledger, ref: registry.VersionRef, row: dict[str, Any]) -> ServedRecommender:
    """A registered recommender version ready to answer (its model bytes hash-checked)."""
    problem = ledger.artifacts.problem(row["artifact_hash"])
    if problem:
        raise ComplianceBlocked(f"cannot load the model of {ref}: {problem}")
    snapshot = json.loads(row["config_snapshot"])
    config = parse_recommender_config(snapshot, Path(snapshot.get("base_dir") or "."), "the config stored with the version")
    contract = registry.attachment(ledger, ref.id, "data_contract")
    if contract is None:
        raise ComplianceBlocked(f"{ref} has no stored input contract; retrain it")
    sensitive = [s.column for s in config.sensitive()]
    schema = preds.InputSchema.build(version=str(ref), contract=json.loads(contract), columns=[("user_id", "object")],
                                     feature_names=["user_id"], sensitive_names=sensitive, needs_sensitive=False,
                                     out_of_domain=config.serving.out_of_domain)
    model = modeling.load_model(ledger.artifacts.read(row["artifact_hash"]))
    return ServedRecommender(ref, config, model, schema, preds.redaction_for(ledger.home, ref.system, config.logging.redact))


def load_production_recommender(ledger: Ledger, system: str) -> ServedRecommender:
    with ledger.read() as conn:
        ref = registry.production_version(conn, system)
        row = registry.version_row(conn, ref.id) if ref else None
    if ref is None or row is None:
        raise ComplianceBlocked(f"{system} has no version in production; promote one with `govflow promote {system}:VERSION`")
    return load_served(ledger, ref, row)


def recommend(ledger: Ledger, served: ServedRecommender, records: list[Any], *, caller: str) -> dict[str, Any]:
    """Validate, recommend and log a batch (one transaction, one audit entry); the response body."""
    began = time.perf_counter()
    valid = served.schema.validate(records, batch=True)
    outputs = served.predict(valid)
    latency = (time.perf_counter() - began) * 1000 / max(1, len(valid))
    request_id, now = new_id(), canon.utc_now()
    logged = [preds.make_record(request_id=request_id, system=served.version.system, model_version_id=served.version.id,
                                output=output, valid=record, latency_ms=latency, served_at=now, caller=caller,
                                redaction=served.redaction) for record, output in zip(valid, outputs)]
    receipt = preds.write_predictions(ledger, logged, versions={served.version.id: str(served.version)})
    preds.refuse_unless_written(receipt, [r.id for r in logged])
    return {"request_id": request_id, "model_version": str(served.version),
            "predictions": [{"prediction_id": r.id, **r.output} for r in logged]}
