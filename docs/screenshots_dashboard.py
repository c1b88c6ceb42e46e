"""Screenshot of the dashboard for the README: `python docs/screenshots_dashboard.py` (from the repository root).

Builds the monitored system of the dashboard's browser tests (tests/web/dashboard/monitored.py: a
model trained, gated, approved and promoted through the real flows, a quiet week and a drifted week
served, monitoring run, outcomes attached) in a temporary folder, serves it with `govflow serve`'s
app, signs in with an auditor token in headless Chromium (Debian's /usr/bin/chromium) and writes the
system page to docs/dashboard.png. Offline; about two minutes on two cores.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "dashboard.png"


def main() -> None:
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as folder:
        os.environ.update({"PREFECT_HOME": str(Path(folder) / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                           "DO_NOT_TRACK": "1", "PREFECT_SERVER_UI_V2_ENABLED": "false",
                           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300"})  # a busy machine
        from playwright.sync_api import sync_playwright

        from govflow.flows.recording import set_ledger
        from govflow.governance.access import tokens
        from govflow.web import app as serve
        from tests.web.dashboard import monitored
        from tests.web.dashboard.browser import ARGS, serving

        ledger, _, _ = monitored.build(Path(folder))
        secret, _ = tokens.create_token(ledger, role="auditor", label="screenshot", created_by="docs")
        try:
            with serving(serve.create_app(ledger)) as url, sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS, headless=True)
                page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
                page.goto(url + "/dashboard/toy-screening")
                page.fill("input[name=token]", secret)
                page.click("form[action='/dashboard/login'] button")
                page.wait_for_selector("[data-chart='outcomes'] .main-svg", state="attached", timeout=30000)
                page.screenshot(path=str(OUT), full_page=True)
                browser.close()
        finally:
            set_ledger(None)
            ledger.close()
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
