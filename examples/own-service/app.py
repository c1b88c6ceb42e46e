"""A team's own credit-scoring service: FastAPI, its own model, its own route and answer.

Run it:  ``uvicorn app:app --port 8080`` (in this folder). The two govflow lines are at the bottom:
every ``POST /score`` is then recorded in the govflow ledger against the version of
``credit-scoring`` in production, and answered only once its record is durable.

The model: ``CREDIT_MODEL`` (a joblib file; default ``model.joblib`` here, made by
``python train_model.py``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
from fastapi import FastAPI, Request

HERE = Path(__file__).resolve().parent
NOT_FEATURES = ("sensitive", "subject_id")


def create_app(model_file: str | None = None) -> FastAPI:
    """The service as the team wrote it, with no govflow in it."""
    model = joblib.load(model_file or os.environ.get("CREDIT_MODEL") or HERE / "model.joblib")
    columns = list(model.feature_names_in_)
    app = FastAPI(title="credit scoring (our own service)")

    @app.post("/score")
    async def score(request: Request) -> dict[str, Any]:
        body = await request.json()
        records = body if isinstance(body, list) else [body]
        frame = pd.DataFrame([{c: r.get(c) for c in columns} for r in records], columns=columns)
        probabilities = model.predict_proba(frame)[:, 1]
        answers = [{"decision": int(p >= 0.5), "score": round(float(p), 6)} for p in probabilities]
        return {"predictions": answers}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


from govflow.web import instrument  # noqa: E402 - the two govflow lines

app = instrument(create_app(), system="credit-scoring", routes=["/score"])
