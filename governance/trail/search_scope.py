"""What a search can find before it reads a row: the sensitive attributes a system records.

A system's versions say which sensitive attributes its payloads hold (``data.sensitive_features`` of
each version's config snapshot; serving refuses any other, see `input_schema`). A group filter on an
attribute none of them records matches nothing, and finding that out by reading the log walks every
row (94 s at 5 million predictions): `check_recorded` says so at once instead.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import Connection, select

from govflow.errors import InputError
from govflow.governance.ledger.schema import ModelVersion
from govflow.governance.trail.dashboard_figures import sensitive_spec
from govflow.governance.trail.search_sql import GroupFilter

NOT_RECORDED = "{system} records no sensitive attribute '{name}'; it records: {names}"


class UnrecordedAttribute(InputError):
    """A group filter names a sensitive attribute the system's versions never record."""


def recorded_attributes(conn: Connection, system: str, model_version_id: str | None = None) -> set[str] | None:
    """The sensitive attributes the system's versions (or this one) record, or None when one of them
    does not say (a snapshot without a ``data`` section: a model registered with no config)."""
    query = select(ModelVersion.config_snapshot).where(ModelVersion.system == system)
    if model_version_id is not None:
        query = query.where(ModelVersion.id == model_version_id)
    names: set[str] = set()
    snapshots = conn.execute(query).scalars().all()
    for raw in snapshots:
        snapshot = json.loads(raw) if raw else {}
        if not isinstance(snapshot, dict) or not isinstance(snapshot.get("data"), dict):
            return None
        names |= set(sensitive_spec(snapshot))
    return names if snapshots else None


def check_recorded(conn: Connection, system: str | None, model_version_id: str | None,
                   groups: Sequence[GroupFilter]) -> None:
    """`UnrecordedAttribute` for the first group on an attribute ``system`` never records."""
    if system is None or not groups:
        return
    names = recorded_attributes(conn, system, model_version_id)
    if names is None:
        return
    for group in groups:
        if group.name not in names:
            raise UnrecordedAttribute(NOT_RECORDED.format(system=system, name=group.name,
                                                          names=", ".join(sorted(names)) or "none"))
