"""Per-column statistics of a data set, and its rows per sensitive group, for the datasheets.

Pure functions of a frame: for each column its type, how many values it holds and how many are missing,
the minimum, maximum and mean of a numeric column, the most frequent values of any other column; and,
per sensitive feature of the config, the rows in each group (bins and missing values as the fairness
check forms them). Numbers are rounded to 6 significant digits, so a document renders the same bytes
whatever the platform's last float digit.

Examples
--------
>>> frame = pd.DataFrame({"age": [19, 25, None], "sex": ["f", "m", "f"]})
>>> [(s.column, s.count, s.missing, s.minimum, s.maximum, s.mean, s.top) for s in column_statistics(frame)]
[('age', 2, 1, 19.0, 25.0, 22.0, ()), ('sex', 3, 0, None, None, None, (('f', 2), ('m', 1)))]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

TOP = 5  # most frequent values shown for a non-numeric column


@dataclass(frozen=True)
class ColumnStatistics:
    """What one column of a data set holds."""

    column: str
    dtype: str  #: the pandas dtype, as the schema records it
    count: int  #: values present
    missing: int  #: values missing (None, NaN, NaT, pd.NA)
    distinct: int  #: distinct values present
    minimum: float | None = None  #: numeric columns only
    maximum: float | None = None
    mean: float | None = None
    top: tuple[tuple[str, int], ...] = ()  #: non-numeric columns: the most frequent values with their counts


def _round(value: Any) -> float:
    return float(f"{float(value):.6g}")


def _numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def column_statistics(frame: pd.DataFrame, top: int = TOP) -> tuple[ColumnStatistics, ...]:
    """One `ColumnStatistics` per column, in the frame's column order."""
    found = []
    for name in frame.columns:
        series = frame[name]
        present = series.dropna()
        base = ColumnStatistics(column=str(name), dtype=str(series.dtype), count=int(present.size),
                                missing=int(series.size - present.size), distinct=int(present.nunique()))
        if _numeric(series) and present.size:
            found.append(replace(base, minimum=_round(present.min()), maximum=_round(present.max()),
                                 mean=_round(present.astype(float).mean())))
        elif _numeric(series):
            found.append(base)
        else:
            counts = present.astype(str).value_counts(sort=False)
            ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
            found.append(replace(base, top=tuple((str(value), int(n)) for value, n in ordered)))
    return tuple(found)


def group_counts(frame: pd.DataFrame, specs: Sequence[Any] | None) -> tuple[tuple[str, tuple[tuple[str, int], ...]], ...]:
    """Per sensitive feature present in the frame: (feature, ((group, rows), ...)), groups in sorted order."""
    from govflow.checks.groups import SensitiveFeature, group_labels
    from govflow.errors import GovflowError

    found = []
    for spec in specs or ():
        try:
            feature = SensitiveFeature.parse(spec)
            labels = group_labels(frame, [feature])[feature.column]
        except (GovflowError, ValueError):  # absent, all missing, one group, outside its bins: nothing to chart
            continue
        counts = labels.value_counts()
        found.append((feature.column, tuple((str(g), int(counts[g])) for g in sorted(counts.index, key=str))))
    return tuple(found)
