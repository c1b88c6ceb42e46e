"""The prediction log as Elasticsearch / OpenSearch bulk-API lines (``--format ndjson``).

Each prediction is two lines: the action ``{"index": {"_index": ..., "_id": <prediction id>}}`` (so a
load run twice overwrites rather than duplicates) and the document, in Elastic Common Schema names
(`govflow.governance.trail.ecs`): ``@timestamp`` (served at), ``event.*`` (``event.id`` the prediction
id, ``event.duration`` the latency in nanoseconds, ``event.sequence`` the audit entry that chained it,
``event.hash`` the payload hash), ``service.*`` (the AI system and model version), ``labels.*``
(request id, caller), and govflow's own fields under ``govflow.*`` (the output; the inputs where allowed).

Inputs (features, sensitive attributes, subject id) go out only where retention and redaction allow:
the payload still exists (not purged), it is younger than the retention period of the version that
answered (``logging.retention_days`` in the config stored with it; a payload past it but not yet purged
is not exported), and fields in ``logging.redact`` leave as the keyed hashes they were stored as.
Rows are read in pages of `PAGE` by ``(served_at, id)``: memory stays flat however long the range.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, or_, select

from govflow import canonical as canon
from govflow.governance.ledger.schema import ModelVersion, Prediction, PredictionPayload
from govflow.governance.trail import ecs

INDEX = "govflow-predictions"
PAGE = 1000
DEFAULT_RETENTION_DAYS = 183


def _versions(conn: Connection, ids: set[str], known: dict[str, tuple[str, int]]) -> None:
    """Fill ``known`` with model version id -> (NAME:VERSION, retention days) for the ids not yet in it."""
    wanted = sorted(ids - set(known))
    if not wanted:
        return
    for mv, system, number, snapshot in conn.execute(select(
            ModelVersion.id, ModelVersion.system, ModelVersion.version, ModelVersion.config_snapshot)
            .where(ModelVersion.id.in_(wanted))):
        logging = (json.loads(snapshot or "{}").get("logging") or {})
        known[mv] = (f"{system}:{number}", int(logging.get("retention_days") or DEFAULT_RETENTION_DAYS))


def document(row: dict[str, Any], version: str, retention_days: int, now: datetime) -> dict[str, Any]:
    """One prediction as an ECS document (inputs only if its payload is there and within retention)."""
    system, _, number = version.rpartition(":")
    doc: dict[str, Any] = {
        "@timestamp": canon.format_ts(row["served_at"]),
        "ecs": {"version": ecs.ECS_VERSION},
        "event": {"kind": "event", "action": "prediction", "dataset": "govflow.predictions", "module": "govflow",
                  "id": row["id"], "duration": int(round(float(row["latency_ms"]) * 1_000_000)),
                  "sequence": row["audit_seq"], "hash": row["payload_hash"]},
        "service": {"name": system, "version": number, "type": "govflow"},
        "labels": {"request_id": row["request_id"], "caller": row["caller"], "model_version_id": row["model_version_id"]},
        "govflow": {"output": json.loads(row["output_json"]), "model_version": version},
    }
    created = row["created_at"]
    if row["features_json"] is not None and created is not None and created >= now - timedelta(days=retention_days):
        doc["govflow"]["input"] = {"features": json.loads(row["features_json"]),
                                   "sensitive": json.loads(row["sensitive_json"]), "subject_id": row["subject_id"]}
    else:
        doc["govflow"]["input_withheld"] = "purged" if row["features_json"] is None else "past retention"
    return doc


def bulk_lines(conn: Connection, *, since: datetime, until: datetime | None = None, system: str | None = None,
               index: str = INDEX, now: datetime | None = None) -> Iterator[str]:
    """Action and document lines (no trailing newline each), oldest first, for predictions served in the range."""
    now = now or canon.utc_now()
    known: dict[str, tuple[str, int]] = {}
    base = (select(*Prediction.__table__.c, PredictionPayload.features_json, PredictionPayload.sensitive_json,
                   PredictionPayload.subject_id, PredictionPayload.created_at)
            .join(PredictionPayload, PredictionPayload.payload_hash == Prediction.payload_hash, isouter=True)
            .where(Prediction.served_at >= since, Prediction.audit_seq.isnot(None))
            .order_by(Prediction.served_at, Prediction.id).limit(PAGE))
    if until is not None:
        base = base.where(Prediction.served_at < until)
    if system is not None:
        base = base.where(Prediction.system == system)
    after: tuple[datetime, str] | None = None
    while True:
        query = base if after is None else base.where(or_(Prediction.served_at > after[0], and_(
            Prediction.served_at == after[0], Prediction.id > after[1])))
        rows = [dict(r) for r in conn.execute(query).mappings()]
        _versions(conn, {r["model_version_id"] for r in rows}, known)
        for row in rows:
            version, days = known.get(row["model_version_id"], (f"{row['system']}:?", DEFAULT_RETENTION_DAYS))
            yield json.dumps({"index": {"_index": index, "_id": row["id"]}}, separators=(",", ":"))
            yield json.dumps(document(row, version, days, now), separators=(",", ":"), ensure_ascii=False)
        if len(rows) < PAGE:
            return
        after = (rows[-1]["served_at"], rows[-1]["id"])
