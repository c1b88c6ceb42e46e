"""Screenshot of a model card with its charts for the README: `python docs/screenshots_documents.py` (from the root).

Runs the real credit-scoring scenario of the tests (tests/reports/gap/scenario.py: German credit trained and
gated through the real flows; version 2 is BLOCKED by the default fairness policy) in a temporary folder
under a Prefect test harness, takes the model card the gate stored for ``credit-scoring:2``, opens it from
a file in headless Chromium (Debian's /usr/bin/chromium, through Playwright) and writes its fairness
analysis (charts, badges, the narrow by-group table) to docs/model-card.png. Offline; a few minutes on
two cores.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "model-card.png"
VERSION = "credit-scoring:2"
SECTION = "h4:has-text('Fairness by group')"  # the first feature's chart and by-group table


def model_card(home: Path) -> str:
    from govflow.governance.ledger.engine import Ledger
    from govflow.governance.registry import versions as registry
    from govflow.governance.reports.documents import store

    ledger = Ledger.open(home=home)
    try:
        with ledger.read() as conn:
            mv_id = registry.resolve(conn, VERSION).id
            row = store.current(conn, mv_id)["model-card-credit-scoring-v2.html"]
        return ledger.artifacts.read(row["content_hash"]).decode("utf-8")
    finally:
        ledger.close()


def main() -> None:
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as folder:
        os.environ.update({"PREFECT_HOME": str(Path(folder) / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                           "DO_NOT_TRACK": "1", "PREFECT_SERVER_UI_V2_ENABLED": "false"})
        from playwright.sync_api import sync_playwright
        from prefect.testing.utilities import prefect_test_harness

        from tests.reports.gap.scenario import scenario
        from tests.web.dashboard.browser import ARGS

        with prefect_test_harness(server_startup_timeout=240):
            page_file = Path(folder) / "model-card.html"
            page_file.write_text(model_card(scenario().home), encoding="utf-8")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS, headless=True)
            page = browser.new_context(viewport={"width": 1100, "height": 1500}).new_page()
            page.goto(page_file.as_uri())
            top = page.locator(SECTION).first.bounding_box()
            assert top is not None, "the model card has no fairness section"
            page.screenshot(path=str(OUT), full_page=True,
                            clip={"x": 0, "y": top["y"] - 16, "width": 1100, "height": 1450})
            browser.close()
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
