"""Where a dashboard flag leads: the predictions behind it (``/audit/predictions`` with the filters of
`govflow.governance.trail.search`), the monitoring run that judged its window and the incident
opened for it, where there is one (``/audit/runs/{id}``, ``/audit/incidents/{id}``). A browser
signed in to the dashboard opens them with the same sign-in, formatted for reading."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urlencode

from govflow import canonical as canon
from govflow.governance.trail import dashboard_data as dd

BIN = re.compile(r"\[(-?[\d.e+]+), (-?[\d.e+]+)\)")


def group_filters(attribute: str, group: str) -> list[str]:
    """The ``group`` filters that select one group as logged: a bin ``[0, 25)`` is ``age>=0`` and ``age<25``."""
    found = BIN.fullmatch(group)
    if found:
        return [f"{attribute}>={found.group(1)}", f"{attribute}<{found.group(2)}"]
    return [f"{attribute}={group}"]


def predictions_url(system: str, start: datetime | None = None, end: datetime | None = None, *,
                    version: str | None = None, attribute: str = "", group: str = "",
                    out_of_domain: bool = False, limit: int = 100) -> str:
    """``/audit/predictions`` filtered to a system, a window, a version, a group or the out-of-domain ones."""
    params: list[tuple[str, str]] = [("system", system)]
    if version is not None:
        params.append(("version", version.rsplit(":", 1)[-1]))
    if start is not None:
        params.append(("since", canon.format_ts(start)))
    if end is not None:
        params.append(("until", canon.format_ts(end)))
    if attribute and group:
        params += [("group", g) for g in group_filters(attribute, group)]
    if out_of_domain:
        params.append(("out_of_domain", "any"))
    params.append(("limit", str(limit)))
    return "/audit/predictions?" + urlencode(params)


def _overlaps(start: datetime | None, end: datetime | None, low: datetime, high: datetime) -> bool:
    return start is not None and end is not None and start < high and low < end


def flag_links(flag: dd.Flag, data: dd.DashboardData) -> list[tuple[str, str]]:
    """``(text, href)`` for one flag: its predictions, the monitoring run of its window, its incident."""
    low = flag.window or data.start
    high = (flag.window + data.bucket) if flag.window else data.end
    if flag.kind is dd.FlagKind.UNAPPROVED_SERVING:
        links = [("predictions", predictions_url(data.system, data.start, data.end, version=flag.subject))]
    else:
        links = [("predictions", predictions_url(data.system, low, high, attribute=flag.attribute, group=flag.group))]
    panels = data.panels
    if panels is None:
        return links
    run = next((j for j in panels.judged if _overlaps(j.start, j.end, low, high)), None)
    if run is not None:
        links.append(("monitoring run" + (" (alerted)" if run.alerted else ""), f"/audit/runs/{run.run_id}"))
    for incident in panels.incidents:
        if _overlaps(incident.start, incident.end, low, high):
            links.append((f"incident {incident.id[:8]} ({incident.kind}, {incident.state})",
                          f"/audit/incidents/{incident.id}"))
    return links
