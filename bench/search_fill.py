"""A fast fill of the prediction log on PostgreSQL, for timing searches only (`bench_search.py --size`).

Logging 5 million predictions through `write_predictions` takes over an hour on a small machine;
this writes rows of the same shapes in the database itself (``INSERT ... SELECT`` over
``generate_series``, the secondary indexes dropped first and built once after), about a minute per
million. The rows are not chained (one ``audit_seq`` per 1,000, no audit entries): `govflow verify`
would refuse this ledger, and the searches read none of it.

Shapes as `bench_search.populate` logs them, with the credit model's real names: three credit
versions over the 30 days (75 % of the rows; versions 1 and 2 answer ``decision`` 0/1 and a score,
version 3 the served shape since #16, ``decision`` good/bad, ``favourable``, ``score``,
``score_of``), inputs with ``personal_status_and_sex`` (A91-A95, A92 about a third) and
``age_in_years`` (19-75) as sensitive, a subject id per 20 predictions, one in 500 flagged out of
domain on ``credit_amount``, one in 1,000 with a NUL that ``jsonb`` refuses; and a recommender (25 %:
ten items out of 1,700, a user out of 900).
"""

from __future__ import annotations

import secrets
import time
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from govflow.governance.ledger.engine import Ledger
from govflow.governance.registry import versions as registry

CHUNK = 1_000_000
DAYS = 30

_RANDOM = "((hashtextextended(g::text, {seed}) & 2147483647)::float8 / 2147483648)"  # one draw per row and seed
_SCORE = f"round({_RANDOM.format(seed=1)}::numeric, 6)"
_SEX = f"(ARRAY['A91','A92','A92','A93','A93','A93','A94','A95'])[1 + floor({_RANDOM.format(seed=2)} * 8)::int]"
_AGE = f"(19 + floor({_RANDOM.format(seed=3)} * 57)::int)"
_ITEMS = ("(SELECT string_agg('\"' || (1 + (hashtextextended(g::text || ':' || k, 4) & 2147483647) % 1700) || '\"', ',') "
          "FROM generate_series(1, 10) k)")
_USER = f"(1 + floor({_RANDOM.format(seed=5)} * 900)::int)"

PAYLOADS = f"""
INSERT INTO prediction_payloads (payload_hash, salt, features_json, sensitive_json, subject_id, created_at)
SELECT md5('p' || g) || md5('q' || g), left(md5('s' || g), 32),
  CASE WHEN g % 4 = 0 THEN '{{"user_id":"' || {_USER} || '"}}'
       ELSE '{{"checking_account_status":"A1' || (1 + g % 4) || '","credit_amount":' || (250 + g % 19751)
            || ',"credit_history":"A3' || (g % 5) || '","duration_in_month":' || (4 + g % 69)
            || ',"purpose":"A4' || (g % 10) || '","savings_account":"A6' || (1 + g % 5) || '"}}' END,
  CASE WHEN g % 4 = 0 THEN '{{"gender":"' || (CASE WHEN g % 3 = 0 THEN 'F' ELSE 'M' END) || '"}}'
       ELSE '{{"age_in_years":' || {_AGE} || ',"personal_status_and_sex":"' || {_SEX} || '"}}' END,
  CASE WHEN g % 4 = 0 THEN NULL ELSE 'subject-' || (g / 20) END,
  CAST(:end AS timestamptz) - (CAST(:n AS bigint) - g) * (INTERVAL '{DAYS} days' / CAST(:n AS float8))
FROM generate_series(CAST(:low AS bigint), CAST(:high AS bigint)) g"""

PREDICTIONS = f"""
INSERT INTO predictions (id, request_id, system, model_version_id, output_json, latency_ms, served_at, caller,
                         payload_hash, audit_seq)
SELECT lpad(to_hex(g), 32, '0'), 'req-' || g, CASE WHEN g % 4 = 0 THEN 'movies' ELSE 'credit' END,
  CASE WHEN g % 4 = 0 THEN :movies WHEN g * 3 <= CAST(:n AS bigint) THEN :v1 WHEN g * 3 <= 2 * CAST(:n AS bigint) THEN :v2 ELSE :v3 END,
  CASE WHEN g % 4 = 0 THEN '{{"cold_start"\\:false,"items":[' || {_ITEMS} || '],"scores":[1.0,1.0,1.0,1.0,1.0,1.0,1.0,1.0,1.0,1.0]}}'
       ELSE '{{' || CASE WHEN g * 3 <= 2 * CAST(:n AS bigint) THEN '"decision":' || ({_SCORE} >= 0.5)::int
                         ELSE '"decision":"' || CASE WHEN {_SCORE} >= 0.5 THEN 'good' ELSE 'bad' END
                              || '","favourable":' || ({_SCORE} >= 0.5) END
            || CASE WHEN g % 1000 = 3 THEN ',"note":"a\\u0000b"' ELSE '' END
            || CASE WHEN g % 500 = 1 THEN ',"out_of_domain":["credit_amount"]' ELSE '' END
            || ',"score":' || {_SCORE} || CASE WHEN g * 3 > 2 * CAST(:n AS bigint) THEN ',"score_of":"good"' ELSE '' END || '}}' END,
  1.0, CAST(:end AS timestamptz) - (CAST(:n AS bigint) - g) * (INTERVAL '{DAYS} days' / CAST(:n AS float8)), 'bench', md5('p' || g) || md5('q' || g), 1 + g / 1000
FROM generate_series(CAST(:low AS bigint), CAST(:high AS bigint)) g"""

_SECONDARY = """SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()
  AND tablename IN ('predictions', 'prediction_payloads') AND indexname NOT IN ('predictions_pkey', 'prediction_payloads_pkey')"""


# the sensitive attributes each system's config records (a search for another is refused at once)
SNAPSHOTS = {"credit": {"data": {"sensitive_features": ["personal_status_and_sex", "age_in_years"]}},
             "movies": {"data": {"sensitive_features": ["gender"]}}}


def register(ledger: Ledger) -> dict[str, str]:
    def one(system: str) -> str:
        return registry.register_version(ledger, system=system, model_data=secrets.token_bytes(8), fingerprint="fp",
                                          training_run_id=None, hyperparams={}, config_snapshot=SNAPSHOTS[system],
                                          attachments=[], by="bench").id
    return {"v1": one("credit"), "v2": one("credit"), "v3": one("credit"), "movies": one("movies")}


def fill(ledger: Ledger, n: int, end: datetime) -> dict[str, Any]:
    """``n`` predictions with their payloads; returns the values the searches pick (as `populate`)."""
    versions = register(ledger)
    with ledger.engine.begin() as conn:
        indexes = conn.execute(text(_SECONDARY)).all()
        for name, _ in indexes:
            conn.execute(text(f"DROP INDEX {name}"))
    for low in range(1, n + 1, CHUNK):
        started = time.perf_counter()
        bounds = {"low": low, "high": min(n, low + CHUNK - 1), "n": n, "end": end}
        with ledger.engine.begin() as conn:
            conn.execute(text("SET LOCAL synchronous_commit = off"))
            conn.execute(text(PAYLOADS), bounds)
            conn.execute(text(PREDICTIONS), bounds | versions)
        print(f"    ... {bounds['high']:,} predictions ({time.perf_counter() - started:.0f} s)", flush=True)
    started = time.perf_counter()
    with ledger.engine.begin() as conn:
        conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
        for _, definition in indexes:
            conn.execute(text(definition))
    print(f"    {len(indexes)} indexes built in {time.perf_counter() - started:.0f} s", flush=True)
    with ledger.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE predictions"))
        conn.execute(text("VACUUM ANALYZE prediction_payloads"))
        return picked(conn, n)


def picked(conn: Connection, n: int) -> dict[str, Any]:
    middle = n // 2 // 4 * 4  # a recommender's row (g % 4 = 0) halfway through
    row = conn.execute(text("SELECT p.output_json, pp.features_json FROM predictions p JOIN prediction_payloads pp "
                            "ON pp.payload_hash = p.payload_hash WHERE p.request_id = :r"), {"r": f"req-{middle}"}).one()
    import json

    return {"subject": f"subject-{(middle + 1) // 20}", "request": f"req-{middle + 5}",
            "user": json.loads(row[1])["user_id"], "item": json.loads(row[0])["items"][0]}
