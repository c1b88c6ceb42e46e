"""Sensitive features and the groups they define, for the fairness and performance checks.

A sensitive feature is written in govflow.yaml as a column name, or as ``{column: NAME, bins: [...]}``
for a continuous attribute. Bins are LEFT-CLOSED: ``bins: [0, 25, 120]`` makes the groups
``[0, 25)`` and ``[25, 120)``, so an age of 25 is in the second group. Missing values form their own
group, ``(missing)``, so that they stay visible.

A feature may also name its groups for people: ``{column: RAC1P, labels: {1: White, 2: Black}}``.
The checks keep computing over the codes (results stay comparable when a name is edited);
`group_display_label` gives the name wherever a group is shown.

Examples
--------
>>> frame = pd.DataFrame({"age": [19, 25, 70]})
>>> list(group_labels(frame, [SensitiveFeature("age", (0, 25, 120))])["age"])
['[0, 25)', '[25, 120)', '[25, 120)']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from govflow.checks.group_spec import (  # SensitiveFeature re-exported: light (no pandas)
    SensitiveFeature,
    edge_text,
)
from govflow.checks.inputs import (
    SINGLE_GROUP,
    listing,
    require_columns,
    require_not_all_null,
    require_numeric,
)
from govflow.errors import ConfigError, DataError

MISSING_GROUP = "(missing)"
OUTSIDE_BINS = (
    "column '{column}' has {count} values outside its bins [{low}, {high}) (e.g. {examples}): "
    "widen the first or last edge in data.sensitive_features"
)


def parse_features(specs: Sequence[Any] | None, sensitive: pd.DataFrame) -> tuple[SensitiveFeature, ...]:
    """The features from config specs; with none given, every column of `sensitive`, as categories."""
    if specs is None:
        return tuple(SensitiveFeature(str(c)) for c in sensitive.columns)
    features = tuple(SensitiveFeature.parse(s) for s in specs)
    if not features:
        raise ConfigError("no sensitive features given: list at least one in data.sensitive_features")
    return features


def _labels_of(series: pd.Series, feature: SensitiveFeature, what: str) -> pd.Series:
    require_not_all_null(series, what)
    if feature.bins is None:
        labels = series.astype(object).map(str).where(series.notna(), MISSING_GROUP)
        return labels.astype(str)
    require_numeric(series, what, "a numeric dtype, because it has bins",
                    "convert it to numbers, or remove its bins to treat it as categories")
    edges = np.asarray(feature.bins, dtype=float)
    values = series.to_numpy(dtype=float, na_value=np.nan)
    outside = ~np.isnan(values) & ((values < edges[0]) | (values >= edges[-1]))
    if outside.any():
        raise DataError(OUTSIDE_BINS.format(
            column=feature.column, count=int(outside.sum()), low=edge_text(edges[0]), high=edge_text(edges[-1]),
            examples=listing(sorted(set(series[outside].tolist()))[:3])))
    codes = np.searchsorted(edges, values, side="right") - 1  # left-closed: edge e starts bin e
    names = np.asarray([*feature.labels, MISSING_GROUP], dtype=object)
    return pd.Series(names[np.where(np.isnan(values), len(feature.labels), codes)],
                     name=feature.column, dtype=str)


def group_labels(sensitive: pd.DataFrame, features: Sequence[SensitiveFeature],
                 what: str = "the sensitive features") -> pd.DataFrame:
    """One string column of group labels per feature, over a fresh RangeIndex.

    Raises
    ------
    DataError
        A column is missing, all-null, not numeric though binned, has values outside its bins, or
        has a single group.
    """
    require_columns(sensitive, [f.column for f in features], what)
    columns = {}
    for feature in features:
        labels = _labels_of(sensitive[feature.column].reset_index(drop=True), feature, what)
        distinct = pd.unique(labels)
        if len(distinct) < 2:
            raise DataError(SINGLE_GROUP.format(column=feature.column, group=distinct[0]))
        columns[feature.column] = labels
    return pd.DataFrame(columns)


def intersection_name(features: Sequence[SensitiveFeature]) -> str:
    """The name of the intersection of several features, e.g. ``"sex & age"``."""
    return " & ".join(f.column for f in features)


def intersect(labels: pd.DataFrame) -> pd.Series:
    """Each row's intersectional group, e.g. ``"female & [0, 25)"``."""
    joined = labels.iloc[:, 0].astype(str)
    for column in labels.columns[1:]:
        joined = joined + " & " + labels[column].astype(str)
    return joined.rename(" & ".join(map(str, labels.columns)))


def _names_by_column(sensitive_features: Sequence[Any] | None) -> dict[str, Mapping[str, str]]:
    names: dict[str, Mapping[str, str]] = {}
    for spec in sensitive_features or ():
        column = spec.get("column") if isinstance(spec, Mapping) else getattr(spec, "column", None)
        labels = spec.get("labels") if isinstance(spec, Mapping) else getattr(spec, "labels", None)
        if isinstance(column, str) and isinstance(labels, Mapping):
            names[column] = {str(code): str(name) for code, name in labels.items()}
    return names


def _name_of(group: str, names: Mapping[str, str]) -> str:
    if group in names:
        return names[group]
    try:  # a code read as a float ("1.0") names the same group as the integer code written in the config
        number = float(group)
    except ValueError:
        return group
    return names.get(str(int(number)), group) if number.is_integer() else group


def group_display_label(feature: str, group: str, sensitive_features: Sequence[Any] | None) -> str:
    """The name of a group for people: its ``labels`` entry in the config, else the group as computed.

    `feature` is a sensitive column, or an intersection ``"SEX & RAC1P"``, whose groups are named part
    by part (``"2 & 1"`` -> ``"Female & White"``). `sensitive_features` is ``data.sensitive_features``
    as written in govflow.yaml, as stored in a version's config snapshot, or as parsed by the config.

    Examples
    --------
    >>> specs = ["SEX", {"column": "RAC1P", "labels": {1: "White", 2: "Black"}}]
    >>> group_display_label("RAC1P", "2", specs), group_display_label("RAC1P", "9", specs)
    ('Black', '9')
    >>> group_display_label("SEX & RAC1P", "2 & 1", specs)
    '2 & White'
    """
    names = _names_by_column(sensitive_features)
    columns = feature.split(" & ")
    parts = group.split(" & ")
    if not names or len(columns) != len(parts):
        return group
    return " & ".join(_name_of(part, names.get(column, {})) for column, part in zip(columns, parts))
