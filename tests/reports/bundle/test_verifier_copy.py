"""The bundle's standalone verifier is a deliberate copy of the canonical encoding (it must run with
Python's standard library alone, away from govflow): held equal to `govflow.canonical` here."""

from __future__ import annotations

from typing import Any

import pytest

from govflow import canonical as canon
from govflow.governance.reports import bundle_verifier as copy

VALUES: list[Any] = [
    {"b": 1, "a": [1.5, -0.0, 1e-300, 2**53 + 1], "ü": "naïve ✓", "nested": {"z": None, "y": True}},
    ["\u2028", "\ud7ff", "tab\there", 'quote"s', "back\\slash"],
    {"": 0, "0": "", "1e400": 12345678901234567890},
]


@pytest.mark.parametrize("value", VALUES)
def test_the_copy_encodes_as_govflow_does(value: Any) -> None:
    assert copy.canonical(value) == canon.canonical(value)
    assert copy.row_hash("runs", value) == canon.hash_value({"table": "runs", "row": value})


def test_the_copy_links_entries_as_govflow_does() -> None:
    entry: dict[str, Any] = {"seq": 7, "recorded_at": "2026-12-07T15:00:00.000001Z", "event_type": "task.recorded",
             "subject": "gate ✓", "payload_hash": "a" * 64, "prev_hash": canon.GENESIS}
    assert copy.GENESIS == canon.GENESIS
    assert copy.entry_hash(entry) == canon.entry_hash(**entry) == canon.hash_value(entry)


def test_the_copy_refuses_what_govflow_refuses() -> None:
    for encode in (copy.canonical, canon.canonical):
        with pytest.raises(ValueError):
            encode({"x": float("nan")})
