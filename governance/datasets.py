"""Reading a system's data and checking it fits its config, with errors that name the fix."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from checks.errors import ConfigError, DataError
from governance.config import GovflowConfig

READERS = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".pq": pd.read_parquet}


def read_frame(path: str | Path, name: str | None = None) -> pd.DataFrame:
    """A csv or parquet file as a frame that carries its name and location for the ledger."""
    file = Path(path)
    reader = READERS.get(file.suffix.lower())
    if reader is None:
        raise DataError(f"cannot read {file}: unsupported file type '{file.suffix}'; use .csv or .parquet")
    if not file.exists():
        raise DataError(f"data file {file} not found")
    try:
        frame = reader(file)
    except Exception as e:  # pandas/pyarrow raise many types for one cause: the file is unreadable
        raise DataError(f"cannot read {file}: {str(e).splitlines()[0]}; check the file's format") from e
    if frame.empty:
        raise DataError(f"data file {file} has no rows")
    frame.attrs["govflow:name"] = name or file.name
    frame.attrs["govflow:uri"] = file.absolute().as_uri()
    return frame


def check_columns(config: GovflowConfig, frame: pd.DataFrame, source: str) -> None:
    """The target, sensitive features, id and excluded columns named in the config exist."""
    columns = list(frame.columns)
    shown = ", ".join(map(str, columns[:12])) + (", ..." if len(columns) > 12 else "")
    named = [("data.target", config.data.target)]
    named += [(f"data.sensitive_features[{i}]", s.column) for i, s in enumerate(config.data.sensitive())]
    if config.data.id_column:
        named.append(("data.id_column", config.data.id_column))
    named += [(f"data.exclude[{i}]", c) for i, c in enumerate(config.data.exclude)]
    for key, column in named:
        if column not in frame.columns:
            raise ConfigError(f"{key}: column '{column}' is not in {source} (columns: {shown})")
    labels = frame[config.data.target].dropna().unique().tolist()
    if config.data.positive_label not in labels and str(config.data.positive_label) not in map(str, labels):
        raise ConfigError(
            f"data.positive_label: '{config.data.positive_label}' never occurs in column "
            f"'{config.data.target}' of {source} (values: {', '.join(map(str, labels[:10]))})"
        )


def load_training_frame(config: GovflowConfig) -> pd.DataFrame:
    frame = read_frame(config.train_path, config.data.name)
    check_columns(config, frame, config.data.train)
    return frame


def feature_columns(config: GovflowConfig, frame: pd.DataFrame) -> list[str]:
    """The columns the model sees: all but the target, the id, the excluded and (by default) the sensitive."""
    hidden = {config.data.target, *config.data.exclude}
    if config.data.id_column:
        hidden.add(config.data.id_column)
    if not config.data.sensitive_as_features:
        hidden |= {s.column for s in config.data.sensitive()}
    return [c for c in frame.columns if c not in hidden]


def binary_target(config: GovflowConfig, values: pd.Series) -> pd.Series:
    """1 for the favourable outcome, else 0."""
    positive = config.data.positive_label
    return (values.astype(str) == str(positive)).astype(int)
