"""govflow.web: the HTTP side, above the flows (it serves what they registered) and below the CLI.

`app` assembles `govflow serve`: `predict` (the prediction routes), `audit` (the read-only auditor
API and ``/docs``), `dashboard` (``/dashboard``, HTML over `govflow.governance.trail.dashboard_data`),
with `auth` (tokens), `state` (the versions being served), `guard` (what every request must pass),
`workers` and `writer_process` (batch scoring, group commit: nothing answered before it is recorded)
and `sockets`. `instrument(app, system=...)` puts the same audit trail into a team's own FastAPI app
(see `govflow.web.instrument`)."""

from govflow.web.instrument import GovflowMiddleware, default_outputs, instrument

__all__ = ["GovflowMiddleware", "default_outputs", "instrument"]
