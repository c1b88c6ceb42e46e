"""bench_growth --writers: batches written by separate processes, each through its own connection,
still land one transaction and one audit entry each, in one intact chain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.verify import verify
from tests.web.serving.helpers import counts, put_in_production

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_parallel_writers_chain_one_entry_per_batch(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))  # also the spawned writers' path (they import bench_growth)
    import bench_growth
    from bench_serving import scored

    put_in_production(ledger)
    served, valid, outputs = scored(ledger)
    before = counts(ledger)
    where = (None if ledger.is_sqlite else ledger.engine.url.render_as_string(hide_password=False), ledger.home)
    sample: list[str] = []
    rows = 3 * bench_growth.BATCH
    rate, cpu_rate = bench_growth.fill(ledger, served, valid, outputs, 0, rows, sample, writers=2, where=where)
    assert rate > 0 and cpu_rate > 0 and len(sample) == rows // 500
    assert counts(ledger) == (before[0] + rows, before[1] + rows, before[2] + 3)
    with ledger.read() as conn:
        payloads = conn.exec_driver_sql(
            "SELECT payload_json FROM audit_log WHERE event_type = 'predictions.logged' ORDER BY seq").scalars().all()
    assert [json.loads(p)["tables"]["predictions"]["rows"] for p in payloads] == [bench_growth.BATCH] * 3
    assert verify(ledger).intact
