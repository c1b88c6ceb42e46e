"""Screenshot of a gate's Prefect run page (its Logs tab, then its checks artifact) into docs/prefect-run.png.

Re-run from the repository root, offline, with Debian's chromium on PATH (``apt-get install -y chromium``):

    .venv/bin/python docs/screenshots_prefect.py            # about 2-4 minutes
    .venv/bin/python docs/screenshots_prefect.py --out /tmp/prefect-run.png --keep-home /tmp/h

What it does, as a user would: the Prefect server ``govflow ui --port P`` runs (same settings), for a
fresh govflow home, then ``govflow run train`` and ``govflow run gate`` on the bundled German credit
demo (the default policy blocks it), which send their runs to it (``PREFECT_API_URL``). Headless Chromium (Playwright, ``executable_path`` the
chromium on PATH; ``playwright install`` is never needed) opens the gate's flow run page once its
Logs tab shows govflow's decision line, and the checks table artifact; both images are stacked into
one PNG. The server is stopped with SIGTERM and the home removed (unless ``--keep-home``).
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
GOVFLOW = [str(Path(sys.executable).with_name("govflow"))]  # the venv's console script
CONFIG = ROOT / "data" / "credit-scoring.govflow.yaml"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
WIDTH = 1400


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def healthy(api: str) -> bool:
    try:
        return httpx.get(f"{api}/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def govflow(home: Path, api: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GOVFLOW_HOME": str(home), "PREFECT_API_URL": api}
    env.pop("GOVFLOW_PREFECT", None)
    return subprocess.run([*GOVFLOW, "--home", str(home), *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=900)


def wait_for(what: str, fetch, timeout: float = 600.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fetch()
        if value:
            return value
        time.sleep(0.5)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")


def latest_gate_run(api: str) -> dict:
    body = {"flows": {"name": {"any_": ["gate"]}}, "sort": "START_TIME_DESC", "limit": 1}
    runs = httpx.post(f"{api}/flow_runs/filter", json=body, timeout=30).json()
    if not runs:
        raise SystemExit("no gate run found in the Prefect API")
    return dict(runs[0])


def checks_artifact(api: str, flow_run_id: str) -> dict | None:
    body = {"artifacts": {"flow_run_id": {"any_": [flow_run_id]}, "key": {"any_": ["govflow-gate-checks"]}}}
    found = httpx.post(f"{api}/artifacts/filter", json=body, timeout=30).json()
    return dict(found[0]) if found else None


def shoot(ui: str, run: dict, artifact: dict, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if executable is None:
        raise SystemExit("Debian's chromium is not on PATH (apt-get install -y chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": 900})
            page.goto(f"{ui}/runs/flow-run/{run['id']}", wait_until="networkidle", timeout=120_000)
            page.get_by_text("gate BLOCK", exact=False).first.wait_for(timeout=60_000)
            page.wait_for_timeout(1_500)
            page.set_viewport_size({"width": WIDTH, "height": 1750})  # the UI scrolls inside: a tall window shows every line
            page.wait_for_timeout(1_500)
            logs = page.screenshot(full_page=False)
            page.set_viewport_size({"width": WIDTH, "height": 900})
            page.goto(f"{ui}/artifacts/artifact/{artifact['id']}", wait_until="networkidle", timeout=120_000)
            page.get_by_text("equalized_odds_difference", exact=False).first.wait_for(timeout=60_000)
            page.wait_for_timeout(1_000)
            table = page.screenshot(full_page=False)
            both = "".join(f'<img src="data:image/png;base64,{base64.b64encode(png).decode()}" style="display:block;'
                           f'width:{WIDTH}px;border-bottom:6px solid #3e4c59">' for png in (logs, table))
            page.set_content(f'<html><body style="margin:0;background:#fff">{both}</body></html>')
            page.wait_for_timeout(500)
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=True)
        finally:
            browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "prefect-run.png")
    parser.add_argument("--keep-home", type=Path, default=None, help="use this govflow home and keep it")
    options = parser.parse_args()
    home = options.keep_home or Path(tempfile.mkdtemp(prefix="govflow-screenshot-"))
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    # The server `govflow ui` starts (same settings: offline, V1 UI, its API URL set for this port), started
    # here so that a slow first start (Prefect migrates its new database) can take as long as it needs.
    from govflow.cli.ui import server_env

    with open(home / "prefect-server.log", "ab") as log:
        server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                                   "--port", str(port)], env=server_env(home, "127.0.0.1", port), cwd=ROOT,
                                  stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for("the Prefect server to answer", lambda: server.poll() is not None or healthy(api))
        if server.poll() is not None:
            raise SystemExit(f"the Prefect server exited (code {server.returncode}); see {home / 'prefect-server.log'}")
        trained = govflow(home, api, "run", "train", "-c", str(CONFIG))
        if trained.returncode != 0:
            raise SystemExit(f"govflow run train failed:\n{trained.stdout}{trained.stderr}")
        gated = govflow(home, api, "run", "gate", "-c", str(CONFIG), "--version", "1")
        if gated.returncode not in (0, 1):
            raise SystemExit(f"govflow run gate failed:\n{gated.stdout}{gated.stderr}")
        if gated.stderr.strip():
            print(f"note: govflow run gate wrote to stderr:\n{gated.stderr}")
        run = latest_gate_run(api)
        artifact = wait_for("the gate's checks artifact", lambda: checks_artifact(api, run["id"]))
        shoot(api.removesuffix("/api"), run, artifact, options.out)
        print(f"wrote {options.out} (gate run {run['name']}, state {run['state']['name']})")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        if options.keep_home is None:
            shutil.rmtree(home, ignore_errors=True)

if __name__ == "__main__":
    main()
