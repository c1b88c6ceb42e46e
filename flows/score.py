"""`govflow run score -c govflow.yaml --input FILE`: score a file with the version in production.

A recorded Prefect flow: it reads the file, checks every row against the production version's input
schema (each column read with the type the schema gives it: categorical codes written as numbers are
codes; a file with a row that does not fit is refused whole, nothing logged; a value outside the
training range or set is scored and flagged, unless ``serving.out_of_domain: reject``), then scores and logs
it in chunks of `CHUNK` rows, each chunk one ledger transaction with one audit entry (the same group
commit as `govflow serve`). Every row is a prediction whose request id is the flow's ledger run id
and whose caller is ``govflow run score (<OS user>)``, so each traces like a served one; its
``latency_ms`` is its share of its chunk's scoring time.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from govflow import canonical as canon
from govflow.flows import steps
from govflow.flows.recording import current_run_id, flow, get_ledger, link_model_version, task
from govflow.flows.serving import (
    NotInProduction,
    ServedModel,
    check_input,
    load_production,
    why_not_serving,
    with_schema_types,
)
from govflow.governance.ledger.engine import Ledger
from govflow.governance.registry import versions as registry
from govflow.governance.registry.datasets import read_frame
from govflow.governance.trail import predictions as preds

CHUNK = 5000  # rows scored and logged per transaction


@dataclass(frozen=True)
class ScoreOutcome:
    version: str
    input_rows: int
    logged: int
    favourable: int
    request_id: str
    first_prediction_id: str | None
    audit_entries: tuple[int, ...]
    ignored_columns: tuple[str, ...]
    output: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "input_rows": self.input_rows, "logged": self.logged,
                "favourable": self.favourable, "request_id": self.request_id,
                "first_prediction_id": self.first_prediction_id, "audit_entries": list(self.audit_entries),
                "ignored_columns": list(self.ignored_columns), "output": self.output}


_SERVED: dict[str, ServedModel] = {}


def served_for(ledger: Ledger, system: str) -> ServedModel:
    """The production model, cached per version id for the chunks of one run."""
    served = load_production(ledger, system)
    return _SERVED.setdefault(served.version.id, served)


@task
def load_input(input_file: Path) -> pd.DataFrame:
    """The file to score (its bytes are recorded as this step's input)."""
    return read_frame(input_file)


@task
def production_version(system: str) -> str:
    """NAME:VERSION of the version in production (the run is linked to it)."""
    ledger = get_ledger()
    with ledger.read() as conn:
        ref = registry.production_version(conn, system)
    if ref is None:
        raise NotInProduction(why_not_serving(ledger, system))
    return str(ref)


@task
def score_chunk(chunk: pd.DataFrame, system: str, request_id: str, caller: str) -> dict[str, Any]:
    """Score one chunk with the production version and log every row, in one transaction."""
    ledger = get_ledger()
    served = served_for(ledger, system)
    valid, _ = check_input(chunk, served.schema, "chunk")
    started = time.perf_counter()
    outputs = served.predict(valid)
    per_row = (time.perf_counter() - started) * 1000 / max(len(valid), 1)
    now = canon.utc_now()
    records = [preds.make_record(request_id=request_id, system=system, model_version_id=served.version.id, output=out,
                                 valid=v, latency_ms=per_row, served_at=now, caller=caller, redaction=served.redaction)
               for v, out in zip(valid, outputs)]
    receipt = preds.write_predictions(ledger, records, versions={served.version.id: str(served.version)})
    preds.refuse_unless_written(receipt, [r.id for r in records])
    return {"logged": receipt.written, "seq": receipt.seq, "favourable": sum(o["favourable"] for o in outputs),
            "ids": [r.id for r in records], "outputs": outputs}


@flow(name="score")
def score_flow(config_path: str, input_path: str, output_path: str | None = None, chunk_size: int = CHUNK) -> ScoreOutcome:
    """Score ``input_path`` with the production version of the system ``config_path`` names; log every row."""
    from govflow.governance.registry.versions import os_user

    config = steps.load_system_config(Path(config_path).absolute())
    system = config.system.name
    version = production_version(system)
    ledger = get_ledger()
    with ledger.read() as conn:
        link_model_version(registry.resolve(conn, version).id)
    file = Path(input_path).absolute()
    served = served_for(ledger, system)
    frame = with_schema_types(load_input(file), served.schema, file if file.suffix.lower() == ".csv" else None)
    _, ignored = check_input(frame, served.schema, Path(input_path).name)  # the whole file, before anything is logged
    request_id = current_run_id() or ""
    caller = f"govflow run score ({os_user()})"
    logged, favourable, seqs, ids, outputs = 0, 0, [], [], []
    for start in range(0, len(frame), chunk_size):
        chunk = frame.iloc[start:start + chunk_size].reset_index(drop=True)
        chunk.attrs["govflow:name"] = f"{frame.attrs.get('govflow:name', 'input')} rows {start}-{start + len(chunk) - 1}"
        done = score_chunk(chunk, system, request_id, caller)
        logged += done["logged"]
        favourable += done["favourable"]
        seqs.append(done["seq"])
        ids += done["ids"]
        outputs += done["outputs"]
    if output_path:
        _write_output(Path(output_path), frame, served.config.data.id_column, ids, outputs)
    return ScoreOutcome(version=version, input_rows=len(frame), logged=logged, favourable=favourable,
                        request_id=request_id, first_prediction_id=ids[0] if ids else None,
                        audit_entries=tuple(seqs), ignored_columns=tuple(ignored), output=output_path)


def _write_output(path: Path, frame: pd.DataFrame, id_column: str | None, ids: list[str],
                  outputs: list[dict[str, Any]]) -> None:
    """prediction_id, the id column (when configured), decision (the label), favourable, score and what it is a
    probability of (and randomised, for a model that draws its decisions) per input row, in input order."""
    out = pd.DataFrame({"prediction_id": ids})
    if id_column and id_column in frame.columns:
        out.insert(0, id_column, frame[id_column].to_numpy())
    for key in ("decision", "favourable", "score", "score_of", "randomised"):
        if outputs and key in outputs[0]:
            out[key] = [o[key] for o in outputs]
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    out.to_csv(buffer, index=False)
    path.write_text(buffer.getvalue(), encoding="utf-8")
