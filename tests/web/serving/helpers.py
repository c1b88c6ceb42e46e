"""Helpers for the serving tests: a version put in production without Prefect, request records from
the bundled German credit data, and a real `govflow serve` process on a free port."""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import func, select

from govflow.checks.contract import infer_contract
from govflow.flows import steps
from govflow.flows.models import tabular as modeling
from govflow.governance.config import GovflowConfig, parse_config
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.fingerprint import fingerprint_model
from govflow.governance.ledger.schema import AuditEntry, Prediction, PredictionPayload
from govflow.governance.registry import versions as registry
from govflow.governance.registry.datasets import load_training_frame
from tests.gate_record import record_completed_gate

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "credit-relaxed.govflow.yaml"
DATA = HERE.parents[2] / "data" / "german_credit.csv"
GOVFLOW = str(Path(sys.executable).with_name("govflow"))
SYSTEM = "credit-scoring"
INTEGER_COLUMNS = {"duration_in_month", "credit_amount", "installment_rate_in_percentage_of_disposable_income",
                   "present_residence_since", "age_in_years", "number_of_existing_credits_at_this_bank",
                   "number_of_people_being_liable_to_provide_maintenance_for"}
SENSITIVE = ("personal_status_and_sex", "age_in_years")


def relaxed_config(**model: Any) -> GovflowConfig:
    """The relaxed test config, with ``model`` keys (e.g. mitigation) or ``redact`` changed."""
    raw = yaml.safe_load(CONFIG.read_text())
    redact = model.pop("redact", None)
    raw["model"].update(model)
    if redact is not None:
        raw["logging"]["redact"] = redact
    return parse_config(raw, HERE, source=str(CONFIG))


def put_in_production(ledger: Ledger, config: GovflowConfig | None = None) -> registry.VersionRef:
    """Train, register, pass the gate, approve and promote a version, the registry's way but without
    the Prefect flows (fast; the flow tests run the real ones)."""
    config = config or relaxed_config()
    frame = load_training_frame(config)
    train, holdout = modeling.split(config, frame)
    model = modeling.fit(config, train)
    contract = infer_contract(frame, policy=config.policy_model()).to_dict()
    attachments = [
        registry.Attachment("holdout_data", "holdout.parquet", steps.parquet_bytes(holdout), "application/vnd.apache.parquet"),
        registry.Attachment("data_contract", "data_contract.json", steps.contract_bytes(contract), "application/json"),
    ]
    ref = registry.register_version(ledger, system=config.system.name, model_data=modeling.model_bytes(model),
                                    fingerprint=fingerprint_model(model), training_run_id=None, hyperparams={},
                                    config_snapshot=config.snapshot(), attachments=attachments, by="test")
    record_completed_gate(ledger, ref, reasons=["test: relaxed policy"], policy=config.policy_model().to_dict())
    roles = list(config.policy_model().approvals)
    for role in roles:
        registry.approve(ledger, str(ref), approver=f"{role} tester", role=role, reason="test", required_roles=roles)
    return registry.promote(ledger, str(ref), by="test", required_roles=roles)


def suspend(ledger: Ledger, ref: registry.VersionRef, reason: str = "incident 7: skewed approvals") -> None:
    with ledger.write("model.suspended", str(ref)) as w:
        registry.add_stage(w, ref.id, "suspended", "risk officer", reason)


def records(n: int, start: int = 0) -> list[dict[str, Any]]:
    """``n`` request records (features, plus the sensitive attributes apart) from the German credit rows."""
    with open(DATA, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    out = []
    for i in range(start, start + n):
        row = {k: (int(v) if k in INTEGER_COLUMNS else v) for k, v in rows[i % len(rows)].items() if k != "creditability"}
        row["sensitive"] = {k: row.pop(k) for k in SENSITIVE}
        out.append(row)
    return out


def counts(ledger: Ledger) -> tuple[int, int, int]:
    """(predictions, prediction payloads, audit entries)."""
    with ledger.read() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one()  # type: ignore[return-value]
                     for t in (Prediction, PredictionPayload, AuditEntry))


def db_url(ledger: Ledger) -> str:
    return ledger.engine.url.render_as_string(hide_password=False).replace("postgresql+psycopg", "postgresql")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(ledger: Ledger, *, timeout: float = 180.0) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A real `govflow serve` process on a free port, for this ledger; stopped (SIGTERM) afterwards."""
    port = free_port()
    log = open(ledger.home / f"serve-{port}.log", "wb")  # noqa: SIM115 - closed below
    env = {**os.environ, "GOVFLOW_HOME": str(ledger.home)}
    process = subprocess.Popen([GOVFLOW, "--home", str(ledger.home), "--db", db_url(ledger), "serve", "--port", str(port)],
                               stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise AssertionError(f"govflow serve exited with {process.returncode}: "
                                     f"{(ledger.home / f'serve-{port}.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"govflow serve did not answer within {timeout:.0f} s")
            time.sleep(0.2)
        yield base, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()
