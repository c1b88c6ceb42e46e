"""The example own service (examples/own-service) in a real uvicorn process, instrumented by govflow."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from govflow.governance.ledger.engine import Ledger
from tests.web.serving.helpers import db_url, free_port

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "own-service"
DATA = EXAMPLE.parents[1] / "data" / "german_credit.csv"


def train_example_model(out: Path) -> Path:
    """The example team's own model (its train_model.py, run as they would run it)."""
    done = subprocess.run([sys.executable, str(EXAMPLE / "train_model.py"), str(DATA), str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return out


@contextmanager
def own_service(ledger: Ledger, model: Path, *, target: str = "app:app", factory: bool = False,
                folder: Path = EXAMPLE, timeout: float = 120.0) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``uvicorn app:app`` in the example's folder, on a free port, against this ledger; SIGTERM after."""
    port = free_port()
    log_path = ledger.home / f"own-service-{port}.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed below
    env = {**os.environ, "GOVFLOW_HOME": str(ledger.home), "GOVFLOW_DB_URL": db_url(ledger), "CREDIT_MODEL": str(model)}
    command = [sys.executable, "-m", "uvicorn", target, "--port", str(port), "--app-dir", str(folder),
               "--no-access-log", *(["--factory"] if factory else [])]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=folder)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise AssertionError(f"the own service exited with {process.returncode}: {log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"the own service did not answer within {timeout:.0f} s")
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


def service_log(ledger: Ledger) -> str:
    return "\n".join(p.read_text() for p in sorted(ledger.home.glob("own-service-*.log")))
