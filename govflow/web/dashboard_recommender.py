"""A recommender's anomaly checks on its dashboard page (#20 item 3): exposure disparity between user
groups, catalogue coverage, popularity concentration and the shift of what it recommends, judged as
`govflow recommender check` judges them (`govflow.flows.recommender_monitor.check_recommender`) over
the last monitoring window of the period shown, each with links to the lists it judged and to the
incident opened for that window, where there is one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from govflow.errors import GovflowError
from govflow.governance.ledger.engine import Ledger
from govflow.governance.trail import dashboard_data as dd
from govflow.web.dashboard_links import predictions_url

TITLES = {"exposure_disparity": "Exposure disparity between user groups", "catalogue_coverage": "Catalogue coverage",
          "popularity_gini": "Popularity concentration (Gini)", "recommendation_shift": "Shift in what is recommended"}
UNAVAILABLE = "The recommender checks could not run for this period: {reason}"


@dataclass(frozen=True)
class RecommenderFlag:
    """One check's verdict for the window, with where to look."""

    name: str
    title: str
    subject: str
    observed: float | None
    threshold: float | None
    passed: bool | None  # None: not judged (too few lists)
    why: str
    links: tuple[tuple[str, str], ...]

    @property
    def verdict(self) -> str:
        return "not judged" if self.passed is None else ("pass" if self.passed else "FLAG")


def recommender_flags(ledger: Ledger, data: dd.DashboardData) -> tuple[list[RecommenderFlag], str | None, tuple[datetime, datetime] | None]:
    """The four checks over the monitoring window that ends the period, or why they could not run."""
    from govflow.flows.recommender_monitor import check_recommender

    try:
        found = check_recommender(ledger, data.system, end=data.end, window=data.bucket)
    except (GovflowError, OSError, ValueError, KeyError) as e:
        return [], UNAVAILABLE.format(reason=str(e).splitlines()[0] if str(e) else type(e).__name__), None
    incidents = data.panels.incidents if data.panels is not None else ()
    opened = [(f"incident {i.id[:8]} ({i.kind}, {i.state})", f"/audit/incidents/{i.id}") for i in incidents
              if i.start is not None and i.end is not None and i.start < found.end and found.start < i.end]
    flags = []
    for result in found.results:
        links = [("lists served", predictions_url(data.system, found.start, found.end, version=found.version))]
        if result.passed is False:
            links += opened
        flags.append(RecommenderFlag(
            result.name, TITLES.get(result.name, result.name), str(result.subject),
            result.observed if isinstance(result.observed, int | float) else None,
            result.threshold if isinstance(result.threshold, int | float) else None,
            result.passed, str(result.details.get("why", "")), tuple(links)))
    return flags, None, (found.start, found.end)
