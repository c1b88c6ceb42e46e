"""Recorded pipelines the flow tests run, and ways to read what they left in the ledger."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import pandas as pd
from sqlalchemy import select

from govflow.checks.results import CheckKind, CheckResult, Severity, SuiteResult
from govflow.flows.recording import flow, task
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import CheckResultRow, DatasetVersion, Edge, Run, RunState

T = TypeVar("T")
ATTEMPTS: dict[str, int] = {}


def poll(fetch: Callable[[], T | None], *, timeout: float = 30.0, what: str = "the condition") -> T:
    """``fetch()`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


# -- pipelines ---------------------------------------------------------------------------------

@task
def load(n: int) -> pd.DataFrame:
    return pd.DataFrame({"age": [20 + i % 50 for i in range(n)], "income": [1000.0 * i for i in range(n)],
                         "label": ["good" if i % 3 else "bad" for i in range(n)]})


@task
def clean(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["income"] > 0].reset_index(drop=True)


@task
def count_rows(frame: pd.DataFrame) -> int:
    return len(frame)


@task
def validate(frame: pd.DataFrame) -> SuiteResult:
    nulls = int(frame["age"].isna().sum())
    return SuiteResult(kind=CheckKind.VALIDATION, results=(
        CheckResult(kind=CheckKind.VALIDATION, name="expect_column_values_to_not_be_null", subject="age",
                    observed=nulls, threshold=0, passed=nulls == 0, severity=Severity.CRITICAL),
        CheckResult(kind=CheckKind.VALIDATION, name="expect_table_row_count_to_be_between", subject="table",
                    observed=len(frame), threshold=1000, passed=len(frame) >= 1000, severity=Severity.WARNING,
                    details={"min_value": 1000}),
        CheckResult(kind=CheckKind.FAIRNESS, name="selection_rate", subject="label=bad", observed=None,
                    threshold=30, passed=None, severity=Severity.WARNING, details={"reason": "group too small"}),
    ))


@task
def explode(frame: pd.DataFrame) -> None:
    raise ValueError(f"cannot score {len(frame)} rows: column 'income' has negative values")


@task(retries=1, retry_delay_seconds=0)
def flaky(key: str) -> str:
    ATTEMPTS[key] = ATTEMPTS.get(key, 0) + 1
    if ATTEMPTS[key] == 1:
        raise ConnectionError("feature store timed out")
    return "ok"


@flow
def prepare(n: int = 30) -> pd.DataFrame:
    """load -> clean -> count_rows; returns the cleaned frame."""
    frame = clean(load(n))
    count_rows(frame)
    return frame


@flow
def consume(frame: pd.DataFrame) -> int:
    """A later flow that takes the cleaned frame as its parameter."""
    return count_rows(frame)


@flow
def checked(n: int = 30) -> SuiteResult:
    frame = load(n)
    return validate(frame)


@flow
def with_failure(n: int = 30) -> str:
    frame = load(n)
    state = explode(frame, return_state=True)
    return state.type.value


@flow
def retried(key: str) -> str:
    return flaky(key)


@flow
def failing_flow(n: int = 5) -> None:
    explode(load(n))


# -- reading the ledger ------------------------------------------------------------------------

def rows(ledger: Ledger, model: Any, *where: Any) -> list[dict[str, Any]]:
    with ledger.read() as conn:
        query = select(model)
        for cond in where:
            query = query.where(cond)
        return [dict(r) for r in conn.execute(query.order_by(model.audit_seq)).mappings()]


def runs_named(ledger: Ledger, name: str) -> list[dict[str, Any]]:
    return rows(ledger, Run, Run.name == name)


def states(ledger: Ledger, run_id: str) -> list[dict[str, Any]]:
    return rows(ledger, RunState, RunState.run_id == run_id)


def edges(ledger: Ledger, run_id: str, direction: str | None = None) -> list[dict[str, Any]]:
    found = rows(ledger, Edge, Edge.run_id == run_id)
    return [e for e in found if direction is None or e["direction"] == direction]


def dataset(ledger: Ledger, fingerprint: str) -> list[dict[str, Any]]:
    return rows(ledger, DatasetVersion, DatasetVersion.fingerprint == fingerprint)


def checks(ledger: Ledger, run_id: str) -> list[dict[str, Any]]:
    return rows(ledger, CheckResultRow, CheckResultRow.run_id == run_id)


# -- a ledger outage ---------------------------------------------------------------------------

OUTCOME: dict[str, Any] = {}


@task
def drop_the_ledger(admin_url: str, database: str) -> str:
    """What an outage looks like from here: the ledger's database is gone (connections cut too)."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
    return "dropped"


@flow
def outage(admin_url: str, database: str) -> None:
    load(3)
    state = drop_the_ledger(admin_url, database, return_state=True)
    OUTCOME["outage"] = state.result(raise_on_failure=False)


# -- a model, registered -----------------------------------------------------------------------

@task
def split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    return frame.iloc[: len(frame) * 2 // 3].reset_index(drop=True), frame.iloc[len(frame) * 2 // 3:].reset_index(drop=True)


@task
def fit(train: pd.DataFrame) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=200).fit(train[["age", "income"]], train["label"])


@task
def evaluate(model: Any, test: pd.DataFrame) -> SuiteResult:
    accuracy = float((model.predict(test[["age", "income"]]) == test["label"]).mean())
    return SuiteResult(kind=CheckKind.PERFORMANCE, results=(
        CheckResult(kind=CheckKind.PERFORMANCE, name="accuracy", subject="overall", observed=accuracy,
                    threshold=0.5, passed=accuracy >= 0.5, severity=Severity.CRITICAL),
        CheckResult(kind=CheckKind.PERFORMANCE, name="accuracy", subject="label=bad", observed=None,
                    threshold=0.5, passed=None, severity=Severity.WARNING),
    ))


@task
def register(model: Any, system: str, training_run_id: str) -> str:
    from govflow.flows.recording import get_ledger
    from govflow.governance.ledger.fingerprint import fingerprint_model, model_bytes
    from govflow.governance.registry import versions as registry

    version = registry.register_version(
        get_ledger(), system=system, model_data=model_bytes(model), fingerprint=fingerprint_model(model),
        training_run_id=training_run_id, hyperparams={"max_iter": 200}, config_snapshot={"system": {"name": system}},
        attachments=[], by="test")
    return str(version)


@flow
def train_model(system: str, n: int = 60) -> str:
    from govflow.flows.recording import current_run_id

    frame = clean(load(n))
    validate(frame)
    train, test = split(frame)
    model = fit(train)
    evaluate(model, test)
    run_id = current_run_id()
    assert run_id is not None  # inside a recorded flow
    return register(model, system, run_id)


# -- the command line, in this process ---------------------------------------------------------

def cli(monkeypatch: Any, capsys: Any, ledger: Ledger, *args: str) -> tuple[int, str, str]:
    """Run `govflow --db <ledger> --home <its home> ARGS` through its real entry point."""
    import os
    import sys

    from govflow.cli.main import main

    for name in ("GOVFLOW_HOME", "PREFECT_API_URL"):  # the CLI sets these: restore them after
        if name in os.environ:
            monkeypatch.setenv(name, os.environ[name])
        else:
            monkeypatch.delenv(name, raising=False)
    url = ledger.engine.url.render_as_string(hide_password=False)
    monkeypatch.setattr(sys, "argv", ["govflow", "--db", url, "--home", str(ledger.home), *args])
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@task
def predict(model: Any, frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"prediction": model.predict(frame[["age", "income"]])})


@flow
def score(ref: str, n: int = 10) -> pd.DataFrame:
    """A later flow that loads a registered model from the ledger and scores with it."""
    import pickle

    from govflow.flows.recording import get_ledger
    from govflow.governance.registry import versions as registry

    ledger = get_ledger()
    with ledger.read() as conn:
        row = registry.version_row(conn, registry.resolve(conn, ref).id)
    model = pickle.loads(ledger.artifacts.read(row["artifact_hash"]))
    return predict(model, load(n))


@task
def remove_the_ledger_folder(folder: str) -> str:
    """An outage on SQLite: the ledger's folder is deleted (the open connection keeps its file)."""
    import shutil

    shutil.rmtree(folder)
    return "removed"


@flow
def folder_outage(folder: str) -> None:
    load(3)
    state = remove_the_ledger_folder(folder, return_state=True)
    OUTCOME["folder_outage"] = state.result(raise_on_failure=False)
