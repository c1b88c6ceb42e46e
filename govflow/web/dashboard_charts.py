"""The dashboard's plotly charts, built from `govflow.governance.trail.dashboard_data.DashboardData`.

Each chart is ``{key, title, note, html}``: ``key`` names it on the page (``data-chart``), ``html`` is
plotly's div (plotly.js is served by the dashboard itself). Groups are written as people read them
(the config's ``labels``); a group with fewer decisions in a window than the policy's
``min_group_size`` is "too few": no rate is drawn for it, only a hollow grey marker on the axis
saying so. Rates carry their Wilson interval as a shaded band.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from govflow.governance.trail import dashboard_data as dd

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
TOO_FEW = "#9aa0a6"
BOUND = "#c0392b"


def _layout(fig: go.Figure, y_title: str, **extra: Any) -> go.Figure:
    fig.update_layout(height=360, margin=dict(l=60, r=20, t=20, b=50), template="plotly_white",
                      yaxis_title=y_title, legend=dict(orientation="h", y=-0.2), **extra)
    return fig


def _period(fig: go.Figure, data: dd.DashboardData) -> None:
    """Time charts span the whole period shown, whatever windows hold data."""
    fig.update_xaxes(type="date", range=[data.start, data.end])


def _div(fig: go.Figure, key: str) -> str:
    return str(fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"chart-{key}",
                           config={"displaylogo": False, "responsive": True}))


def _rgba(colour: str, alpha: float) -> str:
    return f"rgba({int(colour[1:3], 16)}, {int(colour[3:5], 16)}, {int(colour[5:7], 16)}, {alpha})"


def _middle(data: dd.DashboardData, rates: list[dd.Rate]) -> list[Any]:
    """Points at the middle of their window (a 7-day window's rate is not a Monday's)."""
    return [r.window + data.bucket / 2 for r in rates]


def _group_lines(fig: go.Figure, data: dd.DashboardData, points: list[dd.Rate], name: str, colour: str) -> None:
    """One group's rate line with its Wilson band; windows with too few decisions are gaps and grey markers."""
    minimum, confidence = data.rules.min_group_size, data.rules.confidence_level
    judged = [r if r.n >= minimum else None for r in points]
    x = _middle(data, points)
    lows, highs = zip(*[r.interval(confidence) if r is not None else (None, None) for r in judged]) if points else ((), ())
    kept = [(xi, lo, hi) for xi, lo, hi in zip(x, lows, highs) if lo is not None]
    if kept:
        fig.add_scatter(x=[k[0] for k in kept] + [k[0] for k in reversed(kept)],
                        y=[k[2] for k in kept] + [k[1] for k in reversed(kept)], fill="toself", mode="lines",
                        line=dict(width=0), fillcolor=_rgba(colour, 0.15), hoverinfo="skip", showlegend=False,
                        name=f"{name} interval", legendgroup=name)
    fig.add_scatter(x=x, y=[r.rate if r is not None else None for r in judged], mode="lines+markers", name=name,
                    legendgroup=name, line=dict(color=colour, width=2), connectgaps=False,
                    customdata=[[r.n, *r.interval(confidence)] for r in points],
                    hovertemplate="%{y:.2f} [%{customdata[1]:.2f}, %{customdata[2]:.2f}] (n=%{customdata[0]})")
    few = [(xi, r) for xi, r in zip(x, points) if r.n < minimum]
    if few:
        fig.add_scatter(x=[f[0] for f in few], y=[0.0] * len(few), mode="markers", name=f"{name}: too few",
                        legendgroup=name, showlegend=False,
                        marker=dict(symbol="circle-open", size=9, color=TOO_FEW),
                        customdata=[f[1].n for f in few],
                        hovertemplate=f"{name}: too few (n=%{{customdata}} < {minimum})<extra></extra>")


def rate_charts(data: dd.DashboardData) -> list[dict[str, str]]:
    out = []
    overall = [r for r in data.rates if not r.attribute]
    for attribute in data.attributes:
        fig = go.Figure()
        groups = sorted({r.group for r in data.rates if r.attribute == attribute})
        for i, group in enumerate(groups):
            points = [r for r in data.rates if r.attribute == attribute and r.group == group]
            _group_lines(fig, data, points, f"{attribute}={data.name(attribute, group)}", PALETTE[i % len(PALETTE)])
        fig.add_scatter(x=_middle(data, overall), y=[r.rate for r in overall], mode="lines", name="all",
                        line=dict(color="#555", dash="dot"))
        _layout(fig, "favourable rate", yaxis_range=[-0.03, 1.05])
        _period(fig, data)
        few = sum(1 for r in data.rates if r.attribute == attribute and r.n < data.rules.min_group_size)
        note = (f"Shaded: {data.rules.confidence_level:.0%} Wilson interval. {few} group-window(s) with fewer than "
                f"{data.rules.min_group_size} decisions: too few, shown as grey circles on the axis, not as rates."
                if few else f"Shaded: {data.rules.confidence_level:.0%} Wilson interval.")
        out.append({"key": f"rates-{attribute}", "title": f"Favourable-decision rate by {attribute}",
                    "note": note, "html": _div(fig, f"rates-{attribute}")})
    return out


def ratio_chart(data: dd.DashboardData) -> dict[str, str]:
    fig = go.Figure()
    for i, attribute in enumerate(sorted({r.attribute for r in data.ratios})):
        ratios = [r for r in data.ratios if r.attribute == attribute]
        fig.add_scatter(x=[r.window + data.bucket / 2 for r in ratios], y=[r.ratio for r in ratios],
                        mode="lines+markers", name=attribute, line=dict(color=PALETTE[i % len(PALETTE)], width=2),
                        customdata=[[data.name(attribute, r.lowest), data.name(attribute, r.highest)] for r in ratios],
                        hovertemplate="%{y:.2f}: %{customdata[0]} over %{customdata[1]}",
                        marker=dict(size=9, color=[BOUND if r.ratio < data.rules.ratio_min
                                                   else PALETTE[i % len(PALETTE)] for r in ratios]))
    fig.add_hline(y=data.rules.ratio_min, line=dict(color=BOUND, dash="dash"),
                  annotation_text=f"policy bound {data.rules.ratio_min:g}")
    _layout(fig, "lowest / highest group rate", yaxis_range=[0, 1.05])
    _period(fig, data)
    return {"key": "ratios", "title": "Rate ratio between groups (disparate impact)",
            "note": f"Groups with fewer than {data.rules.min_group_size} decisions in a window are not judged.",
            "html": _div(fig, "ratios")}


def outcome_chart(data: dd.DashboardData) -> dict[str, str] | None:
    """TPR and FPR per group (with Wilson intervals) over the decisions whose outcome is known."""
    rates = [r for r in data.panels.outcomes] if data.panels is not None else []
    if not rates:
        return None
    confidence, minimum = data.rules.confidence_level, data.rules.min_group_size
    names = [f"{r.attribute}={data.name(r.attribute, r.group)}" if r.attribute else "all" for r in rates]
    fig = go.Figure()
    for i, (metric, count) in enumerate((("tpr", "positives"), ("fpr", "negatives"))):
        shown = [r if getattr(r, count) >= minimum else None for r in rates]
        values = [getattr(r, metric) if r is not None else None for r in shown]
        bounds = [getattr(r, f"{metric}_interval")(confidence) if r is not None else (0.0, 0.0) for r in shown]
        fig.add_bar(x=names, y=values, name=metric.upper(), marker_color=PALETTE[i],
                    error_y=dict(type="data", symmetric=False,
                                 array=[hi - (v or 0) for v, (_, hi) in zip(values, bounds)],
                                 arrayminus=[(v or 0) - lo for v, (lo, _) in zip(values, bounds)]),
                    customdata=[getattr(r, count) for r in rates],
                    hovertemplate=f"{metric.upper()} %{{y:.2f}} (%{{customdata}} {count})")
    _layout(fig, "rate among decisions with an outcome", barmode="group", yaxis_range=[0, 1.05])
    return {"key": "outcomes", "title": "Outcomes: true- and false-positive rate by group",
            "note": f"From the decisions of the period whose outcome was recorded (govflow outcomes); bars: "
                    f"{confidence:.0%} Wilson intervals; a rate over fewer than {minimum} positives (TPR) or "
                    f"negatives (FPR) is too few and not drawn.",
            "html": _div(fig, "outcomes")}


def charts(data: dd.DashboardData, titles: dict[str, str]) -> list[dict[str, str]]:
    """The page's charts; none when nothing was served."""
    out: list[dict[str, str]] = []
    if not data.counts:
        return out
    fig = go.Figure()
    for i, version in enumerate(sorted({c.version for c in data.counts})):
        counts = [c for c in data.counts if c.version == version]
        fig.add_bar(x=[c.window + data.bucket / 2 for c in counts], y=[c.requests for c in counts], name=version,
                    width=data.bucket.total_seconds() * 1000 * 0.9, marker_color=PALETTE[i % len(PALETTE)],
                    hovertemplate="%{y} requests")
    _layout(fig, "requests", barmode="stack")
    _period(fig, data)
    out.append({"key": "requests", "title": "Requests over time by model version", "note": "",
                "html": _div(fig, "requests")})
    out.extend(rate_charts(data))
    if data.ratios:
        out.append(ratio_chart(data))
    outcomes = outcome_chart(data)
    if outcomes is not None:
        out.append(outcomes)
    if data.exposure is not None:
        out.extend(exposure_charts(data, titles))
    return out


def exposure_charts(data: dd.DashboardData, titles: dict[str, str]) -> list[dict[str, str]]:
    report = data.exposure
    assert report is not None
    out = []
    for attribute in sorted({g.attribute for g in report.groups}):
        groups = [g for g in report.groups if g.attribute == attribute]
        for dimension in report.dimensions or [None]:  # type: ignore[list-item]
            if dimension:
                overall = report.overall.category_shares[dimension]
                keys = sorted(overall, key=lambda c: (-overall[c], c))
                labels = keys
            else:
                keys = report.top_items(10)
                labels = [titles.get(k, k) for k in keys]
            fig = go.Figure()
            for i, g in enumerate(groups):
                shares = g.category_shares.get(dimension, {}) if dimension else g.shares
                fig.add_bar(x=labels, y=[shares.get(k, 0.0) for k in keys],
                            name=f"{attribute}={data.name(attribute, g.group)}", marker_color=PALETTE[i % len(PALETTE)])
            _layout(fig, "share of exposure", barmode="group")
            what = f"item {dimension}" if dimension else "the 10 most exposed items"
            key = f"exposure-{attribute}-{dimension or 'items'}"
            out.append({"key": key, "title": f"Exposure by {attribute}: {what}", "note": "", "html": _div(fig, key)})
    return out
