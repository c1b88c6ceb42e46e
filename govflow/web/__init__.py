"""govflow's web layer. `instrument(app, system=...)` puts the prediction audit trail of `govflow
serve` into a team's own FastAPI app (see `govflow.web.instrument`)."""

from govflow.web.instrument import GovflowMiddleware, default_outputs, instrument

__all__ = ["GovflowMiddleware", "default_outputs", "instrument"]
