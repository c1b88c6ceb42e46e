"""Anchor tests: sinks outside the ledger (a file or folder elsewhere, an HTTP endpoint, the Prefect API)
and a signing key, all real: the HTTP anchor is a small server started here, the Prefect anchor the
session's Prefect harness, and `govflow` runs as a subprocess, as a user runs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from govflow.governance.ledger.anchor_keys import create_key, key_id, public_text
from govflow.governance.ledger.engine import Ledger
from tests.ledger.helpers import GOVFLOW, db_url, drop_triggers

SINK_KINDS = ("file", "folder", "http", "prefect")


class AnchorServer(ThreadingHTTPServer):
    """An HTTP anchor: POST stores a head, GET lists them (what `HttpSink` talks to)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.heads: list[dict[str, Any]] = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}/govflow/heads"


class _Handler(BaseHTTPRequestHandler):
    server: AnchorServer

    def do_POST(self) -> None:  # noqa: N802 - the http.server naming
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.heads.append(json.loads(body))
        self._answer(201, {"stored": len(self.server.heads)})

    def do_GET(self) -> None:  # noqa: N802
        self._answer(200, {"heads": self.server.heads})

    def _answer(self, status: int, content: Any) -> None:
        data = json.dumps(content).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def anchor_server() -> Iterator[AnchorServer]:
    server = AnchorServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@dataclass
class Key:
    path: Path
    public: str
    key_id: str


@pytest.fixture
def key(tmp_path: Path) -> Key:
    """A signing key kept outside the govflow home."""
    path = tmp_path / "keys" / "anchor.key"
    public = create_key(path)
    return Key(path, public_text(public), key_id(public))


@dataclass
class Anchor:
    kind: str
    item: str  # its GOVFLOW_ANCHORS item
    name: str  # how verify names it


@pytest.fixture(params=SINK_KINDS)
def anchor(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Anchor:
    """One anchor of each kind, outside the govflow home."""
    kind = request.param
    if kind == "file":
        path = tmp_path / "elsewhere" / "govflow-heads.log"
        return Anchor(kind, f"file:{path}", str(path))
    if kind == "folder":
        folder = tmp_path / "share"
        return Anchor(kind, f"folder:{folder}", f"folder {folder}")
    if kind == "http":
        server = request.getfixturevalue("anchor_server")
        return Anchor(kind, server.url, server.url)
    request.getfixturevalue("prefect_harness")
    from prefect.settings import PREFECT_API_URL

    monkeypatch.setenv("PREFECT_API_URL", str(PREFECT_API_URL.value()))  # the harness's server, for subprocesses
    return Anchor(kind, "prefect", "prefect")


def anchors_env(*items: str) -> str:
    return ",".join(items)


def govflow_cli(ledger: Ledger, *args: str, anchors: str | None = None, db: str | None = None,
                timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """The real command line on this ledger, with GOVFLOW_ANCHORS as given (unset when None)."""
    env = {k: v for k, v in os.environ.items() if k not in ("GOVFLOW_DB_URL", "GOVFLOW_HOME", "GOVFLOW_ANCHORS")}
    if anchors is not None:
        env["GOVFLOW_ANCHORS"] = anchors
    cmd = [GOVFLOW, "--db", db or db_url(ledger), "--home", str(ledger.home), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


@contextmanager
def triggers_off(ledger: Ledger) -> Iterator[None]:
    """The careful insider: the append-only triggers dropped for the tampering, then put back as they were."""
    sql = ("SELECT sql FROM sqlite_master WHERE type = 'trigger'" if ledger.is_sqlite
           else "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal")
    with ledger.engine.connect() as conn:
        saved = list(conn.execute(text(sql)).scalars())
    drop_triggers(ledger)
    yield
    with ledger.engine.begin() as conn:
        for statement in saved:
            conn.exec_driver_sql(statement)
