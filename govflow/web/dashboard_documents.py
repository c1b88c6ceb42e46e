"""The stored drift report (Evidently's, titled by govflow) opened from the dashboard.

Served from the artifact store only after its bytes are checked against the hash the ledger recorded:
an altered or missing file is refused with what is wrong, never shown as if it were the record.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from govflow.governance.ledger.engine import Ledger
from govflow.governance.reports.documents import drift_report


def latest_report(ledger: Ledger, system: str) -> drift_report.DocumentRef | None:
    """The system's most recent stored drift report (None: monitoring has not kept one)."""
    return drift_report.latest(ledger, system)


def install(router: APIRouter, ledger: Ledger, refused: Callable[[Request], Response | None]) -> None:
    """``GET /dashboard/{system}/drift-report``: the latest stored report, behind the dashboard's sign-in."""

    @router.get("/dashboard/{system}/drift-report", response_class=HTMLResponse,
                summary="The system's latest drift report (Evidently), as stored in the ledger")
    def drift_report_page(request: Request, system: str) -> Response:
        if (page := refused(request)) is not None:
            return page
        found = latest_report(ledger, system)
        if found is None:
            raise HTTPException(404, f"no drift report stored for '{system}': monitoring keeps one for each "
                                     "window whose drift check alerted (govflow run monitor)")
        problem = ledger.artifacts.problem(found.content_hash)
        if problem is not None:
            raise HTTPException(409, f"the drift report {found.name} cannot be shown: {problem} "
                                     "(govflow verify lists what else changed)")
        return HTMLResponse(ledger.artifacts.read(found.content_hash).decode("utf-8", "replace"))
