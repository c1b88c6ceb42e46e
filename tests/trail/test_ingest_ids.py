"""Ids as the batch path makes them (one per logged prediction): UUIDv7 text exactly as `uuid` spells it."""

from __future__ import annotations

import uuid

from govflow.governance.ledger.ids import new_id


def test_an_id_is_the_uuid_modules_text_of_a_version_7_uuid_and_ids_increase() -> None:
    ids = [new_id() for _ in range(20_000)]
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
