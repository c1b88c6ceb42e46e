"""What the datasheets show of a data set's content: statistics computed from the data the ledger stores.

A model version stores its train and held-out splits as content-addressed artifacts (``reference_data``,
``holdout_data``); their bytes are checked against their hash before use, and a copy that is missing or
altered yields no statistics (`govflow verify` reports it). The source data set is not stored: its
statistics are computed over its two splits when they are all of it (both derived from it, and their
row counts add up to its own), which gives the same counts, extremes, means and frequencies.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pandas as pd

from govflow.governance.reports.data_statistics import column_statistics, group_counts
from govflow.governance.reports.evidence_facts import DatasetFacts, Evidence

Reader = Callable[[str], bytes | None]  # content hash -> the stored bytes, None if missing or altered


def _frame(d: DatasetFacts, read: Reader) -> pd.DataFrame | None:
    if d.stored_copy is None:
        return None
    data = read(d.stored_copy.content_hash)
    if data is None:
        return None
    try:
        return pd.read_parquet(io.BytesIO(data))
    except (OSError, ValueError):  # not parquet (a copy stored in another format): no statistics
        return None


def _facts(d: DatasetFacts, frame: pd.DataFrame, specs: Any, source: str) -> DatasetFacts:
    return replace(d, statistics=column_statistics(frame), statistics_from=source,
                   group_counts=group_counts(frame, specs))


def with_statistics(evidence: Evidence, read: Reader) -> Evidence:
    """The evidence with per-column statistics and group sizes of every data set whose data is stored."""
    specs = evidence.section("data").get("sensitive_features")
    frames = {d.id: _frame(d, read) for d in evidence.datasets}
    found = []
    for d in evidence.datasets:
        frame = frames[d.id]
        if frame is not None:
            found.append(_facts(d, frame, specs, f"the stored copy {d.stored_copy.name if d.stored_copy else ''}"))
            continue
        parts = [f for x in evidence.datasets if x.derived_from == d.fingerprint and (f := frames.get(x.id)) is not None]
        schema = {(str(c), str(t)) for c, t in d.schema or ()}
        whole = (len(parts) == 2 and sum(len(f) for f in parts) == d.row_count
                 and all({(str(c), str(t)) for c, t in f.dtypes.items()} == schema for f in parts))
        if whole:
            union = pd.concat(parts, ignore_index=True)
            found.append(_facts(d, union, specs, "its train and held-out splits together (all of its rows)"))
        else:
            found.append(d)
    return replace(evidence, datasets=tuple(found))
