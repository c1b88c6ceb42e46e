"""The batch path's rows, hashes and audit entry are the generic path's, byte for byte.

`write_predictions` hashes and encodes a batch's chained rows itself (`prediction_rows`; on
PostgreSQL a COPY text stream built in one join). The reference here is the generic way every other
history row takes: ``Writer.add`` (its normalising, `rows.row_hash`, `rows.insert_rows`) with the
payloads inserted by plain ``executemany``. The same records go to two fresh ledgers, one each way;
what is stored (read back raw through the driver) and the audit entry's payload must be identical.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy.engine import make_url

from govflow import canonical as canon
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.rows import row_hash
from govflow.governance.ledger.schema import Prediction
from govflow.governance.ledger.verify import verify
from govflow.governance.trail import prediction_rows
from govflow.governance.trail import predictions as preds
from govflow.governance.trail.prediction_writers import PORTABLE
from tests.web.serving.helpers import counts

ODD = ["plain", "back\\slash", "tab\there", "new\nline", "carriage\rreturn", "\\N", "", "é ü 漢字 🙂", 'quote"d',
       "line\u2028separator", "bell\x07", "\\.", "end\\"]
ZONE = timezone(timedelta(hours=2))
BASE = datetime(2026, 3, 29, 1, 59, 59, 999999, tzinfo=UTC)


def odd_records(n: int, start: int = 0) -> list[preds.PredictionRecord]:
    """``n`` records whose strings, numbers and timestamps take every escaping and formatting branch."""
    out = []
    for i in range(start, start + n):
        odd = ODD[i % len(ODD)]
        served = [BASE, BASE.astimezone(ZONE), BASE + timedelta(microseconds=1), BASE.replace(microsecond=0),
                  datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC), canon.utc_now()][i % 6]
        out.append(preds.PredictionRecord(
            request_id=f"req-{i}-{odd}", system="credit-scoring", model_version_id="mv-1",
            output={"decision": odd, "score": [0.0, 1e-05, 0.1 + 0.2, 1e16, -0.0][i % 5], "items": [odd, i]},
            features={"text": odd, "n": i, "x": 1.5e-7 * i}, sensitive={"group": odd} if i % 3 else {},
            latency_ms=[1.0, 1e-05, 123456.789, 0, 7][i % 5], served_at=served, caller=f"caller {odd}",
            subject_id=None if i % 4 == 0 else f"subject {odd}", subject_id_sent=None if i % 2 else odd))
    return out


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def two_ledgers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Ledger, Ledger]]:
    """Two fresh, empty ledgers on the same backend."""
    if request.param == "sqlite":
        pair = (Ledger.open(home=tmp_path / "a"), Ledger.open(home=tmp_path / "b"))
        yield pair
        for ledger in pair:
            ledger.close()
        return
    import psycopg

    from tests.conftest import PG_URL, _admin_conninfo, require_pg

    require_pg()
    names = [f"gf_{secrets.token_hex(6)}" for _ in range(2)]
    with psycopg.connect(_admin_conninfo(), autocommit=True) as admin:
        for name in names:
            admin.execute(f'CREATE DATABASE "{name}"')
    urls = [make_url(PG_URL).set(database=name).render_as_string(hide_password=False) for name in names]
    pair = (Ledger.open(urls[0], home=tmp_path / "a"), Ledger.open(urls[1], home=tmp_path / "b"))
    try:
        yield pair
    finally:
        for ledger in pair:
            ledger.close()
        with psycopg.connect(_admin_conninfo(), autocommit=True) as admin:
            for name in names:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def write_generic(ledger: Ledger, records: list[preds.PredictionRecord]) -> None:
    """The reference: what `write_predictions` wrote before its batch path, the generic way."""
    subject = ", ".join(f"{s}: {sum(r.system == s for r in records)}" for s in sorted({r.system for r in records}))
    with ledger.write(preds.EVENT_TYPE, subject) as w:
        PORTABLE.insert_payloads(w.conn, records, canon.utc_now())
        for r in records:
            w.add(Prediction, id=r.id, request_id=r.request_id, system=r.system, model_version_id=r.model_version_id,
                  output_json=r.output_json, latency_ms=r.latency_ms, served_at=r.served_at, caller=r.caller,
                  payload_hash=r.payload_hash)


def stored(ledger: Ledger) -> tuple[list[Any], list[Any], list[Any]]:
    """(prediction rows, payload rows without created_at, audit entries without their time and
    chain hashes), as the driver reads them: the stored bytes, not SQLAlchemy's conversions."""
    with ledger.read() as conn:
        def rows(sql: str) -> list[Any]:
            return [tuple(row) for row in conn.exec_driver_sql(sql).fetchall()]

        return (rows("SELECT * FROM predictions ORDER BY id"),
                rows("SELECT payload_hash, salt, features_json, sensitive_json, subject_id, subject_id_sent "
                     "FROM prediction_payloads ORDER BY payload_hash"),
                rows("SELECT seq, event_type, subject, payload_json, payload_hash FROM audit_log ORDER BY seq"))


@pytest.mark.parametrize("size", [1, 3, preds.COPY_PAYLOADS + 60])
def test_the_batch_path_stores_what_the_generic_path_stores(two_ledgers: tuple[Ledger, Ledger], size: int) -> None:
    fast, generic = two_ledgers
    records = odd_records(size)
    for start in (0, size):  # twice: the second batch chained after the first
        batch = records if start == 0 else odd_records(size, start)
        receipt = preds.write_predictions(fast, batch, require_production=False)
        assert receipt.written == size
        write_generic(generic, batch)
    mine, theirs = stored(fast), stored(generic)
    assert len(mine[0]) == 2 * size and len(mine[1]) == 2 * size
    assert mine[0] == theirs[0]
    assert mine[1] == theirs[1]
    assert mine[2][1:] == theirs[2][1:]  # the genesis entries name their own ledger
    assert verify(fast).intact and verify(generic).intact


def test_a_value_of_another_type_goes_the_generic_way(two_ledgers: tuple[Ledger, Ledger]) -> None:
    fast, generic = two_ledgers
    records = [r._replace(served_at=pd.Timestamp(r.served_at)) for r in odd_records(preds.COPY_PAYLOADS)]
    with pytest.raises(prediction_rows.Unusual):
        prediction_rows.stamps(records, lambda at: at)
    assert preds.write_predictions(fast, records, require_production=False).written == len(records)
    write_generic(generic, records)
    assert stored(fast)[0] == stored(generic)[0] and stored(fast)[2][1:] == stored(generic)[2][1:]
    assert verify(fast).intact


def test_the_row_hashes_are_the_ledgers_own() -> None:
    records = odd_records(len(ODD) * 6)
    at = prediction_rows.stamps(records, lambda moment: moment)
    expected = [row_hash("predictions", {
        "id": r.id, "request_id": r.request_id, "system": r.system, "model_version_id": r.model_version_id,
        "output_json": r.output_json, "latency_ms": float(r.latency_ms), "served_at": r.served_at, "caller": r.caller,
        "payload_hash": r.payload_hash, "audit_seq": 41}) for r in records]
    assert prediction_rows.row_hashes(records, 41, at) == expected


def test_a_naive_timestamp_or_a_nan_latency_is_refused_and_nothing_is_written(ledger: Ledger) -> None:
    before = counts(ledger)
    naive = odd_records(preds.COPY_PAYLOADS)
    naive[7] = naive[7]._replace(served_at=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="^ledger timestamps must be timezone-aware$"):
        preds.write_predictions(ledger, naive, require_production=False)
    nan = odd_records(preds.COPY_PAYLOADS)
    nan[3] = nan[3]._replace(latency_ms=float("nan"))
    with pytest.raises(ValueError, match="^Out of range float values are not JSON compliant"):
        preds.write_predictions(ledger, nan, require_production=False)
    assert counts(ledger) == before
    assert verify(ledger).intact
