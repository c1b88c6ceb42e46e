"""A sensitive feature as a config names it: a column, binned when edges are given.

Kept apart from `govflow.checks.groups` (which needs pandas) so that reading a config checks its
bins without importing pandas: a misspelt key is reported in a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from govflow.errors import ConfigError

BAD_SPEC = (
    "sensitive feature {spec!r}: write a column name or {{column: NAME, bins: [e0, e1, ...]}} "
    "with at least two strictly increasing edges"
)


def edge_text(value: float) -> str:
    """A bin edge as written in its group label: 25 for 25.0, 2.5 as is."""
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


@dataclass(frozen=True)
class SensitiveFeature:
    """A sensitive attribute: a column, binned into left-closed intervals when `bins` is given."""

    column: str  #: the column holding the attribute
    bins: tuple[float, ...] | None = None  #: left-closed bin edges, strictly increasing; None: categorical

    @classmethod
    def parse(cls, spec: Any) -> SensitiveFeature:
        """From a column name, a ``{column, bins}`` mapping, or an object with those attributes."""
        if isinstance(spec, SensitiveFeature):
            return spec
        if isinstance(spec, str):
            return cls(spec)
        raw = spec if isinstance(spec, Mapping) else {"column": getattr(spec, "column", None),
                                                       "bins": getattr(spec, "bins", None)}
        column, bins = raw.get("column"), raw.get("bins")
        # `labels` names groups for people only (see group_display_label): it does not change a group.
        if not isinstance(column, str) or set(raw) - {"column", "bins", "labels"}:
            raise ConfigError(BAD_SPEC.format(spec=spec))
        if bins is None:
            return cls(column)
        try:
            edges = tuple(float(b) for b in bins)
        except (TypeError, ValueError):
            raise ConfigError(BAD_SPEC.format(spec=spec)) from None
        if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])):
            raise ConfigError(BAD_SPEC.format(spec=spec))
        return cls(column, edges)

    @property
    def labels(self) -> list[str]:
        """The group labels of the bins, e.g. ``["[0, 25)", "[25, 120)"]``."""
        edges = self.bins or ()
        return [f"[{edge_text(a)}, {edge_text(b)})" for a, b in zip(edges, edges[1:])]
