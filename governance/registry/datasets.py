"""Reading a system's data and checking it fits its config, with errors that name the fix."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from govflow.errors import ConfigError, DataError
from govflow.governance.config import GovflowConfig
from govflow.governance.registry.estimators import HANDLES_MISSING
from govflow.governance.registry.frame_checks import check_csv_header, check_frame

READERS = {".csv": pd.read_csv, ".parquet": pd.read_parquet, ".pq": pd.read_parquet}


def read_frame(path: str | Path, name: str | None = None, *, check: bool = True) -> pd.DataFrame:
    """A csv or parquet file as a frame that carries its name and location for the ledger.

    ``check=False`` leaves `check_frame` to the caller (training checks only the columns it uses).
    """
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
    if file.suffix.lower() == ".csv":
        check_csv_header(file)
    if check:
        check_frame(file, frame)
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
    named += [(f"data.features[{i}]", c) for i, c in enumerate(config.data.features or [])]
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
    frame = read_frame(config.train_path, config.data.name, check=False)
    check_columns(config, frame, config.data.train)
    unused = set(unused_columns(config, frame))
    check_frame(config.train_path, frame[[c for c in frame.columns if c not in unused]])
    check_trainable(config, frame, config.train_path)
    return frame


TOO_FEW_ROWS = "{source}: too few rows to split and train: {rows} ({counts}); {need}; add rows"
NEED_BOTH = ("training needs both outcomes of '{target}' (data.positive_label {positive} and one other), "
             "at least 2 rows of each")
NEED_SPLIT = ("a stratified split with data.test_size {test_size} needs at least 2 rows of each class and 2 rows "
              "(one per class) on each side (or another data.test_size)")
SINGLE_CLASS = ("{source}: data.target: column '{target}' has a single class ('{label}'); training needs two: the "
                "favourable outcome (data.positive_label {positive}) and the other; add rows of the other class")
MULTI_CLASS = ("{source}: data.target: column '{target}' has {count} classes ({labels}); govflow supports a binary "
               "target only (the favourable outcome, data.positive_label {positive}, and one other): map the others "
               "to one class, or drop their rows")
MISSING_NUMBERS = ("{source}: column '{column}' has {count} missing values (first at row {row}), and {estimator} cannot "
                   "use missing numbers: fill or drop those rows, leave the column out (data.exclude), or use "
                   "model.estimator {others}, which take them")
MISSING_LABELS = ("{source}: data.target: column '{target}' has {count} missing values (first at row {row}); label "
                  "those rows or drop them")


def check_trainable(config: GovflowConfig, frame: pd.DataFrame, source: str | Path) -> None:
    """The target is binary, labelled on every row, and there are enough rows of each class to split.

    A missing label would otherwise count as the unfavourable outcome, and a third class would be
    merged into it, without a word.
    """
    target, positive = config.data.target, config.data.positive_label
    labels = frame[target]
    missing = labels.isna().to_numpy()
    if missing.any():
        raise DataError(MISSING_LABELS.format(source=source, target=target, count=int(missing.sum()),
                                              row=int(np.argmax(missing)) + 1))
    counts = sorted(labels.value_counts().items(), key=lambda kv: (-kv[1], str(kv[0])))
    if len(counts) > 2:
        shown = ", ".join(repr(str(c)) for c in sorted(str(label) for label, _ in counts)[:10])
        raise DataError(MULTI_CLASS.format(source=source, target=target, count=len(counts), labels=shown,
                                           positive=positive))
    rows = len(frame)
    described = ", ".join(f"{label}: {n}" for label, n in counts)
    rows_text = f"{rows} row" + ("" if rows == 1 else "s")
    if rows < 4:
        need = NEED_BOTH.format(target=target, positive=positive)
        raise DataError(TOO_FEW_ROWS.format(source=source, rows=rows_text, counts=described, need=need))
    if len(counts) == 1:
        raise DataError(SINGLE_CLASS.format(source=source, target=target, label=counts[0][0], positive=positive))
    n_test = math.ceil(config.data.test_size * rows)
    if min(n for _, n in counts) < 2 or n_test < 2 or rows - n_test < 2:
        need = NEED_SPLIT.format(test_size=config.data.test_size)
        raise DataError(TOO_FEW_ROWS.format(source=source, rows=rows_text, counts=described, need=need))
    if config.model.factory is None and config.model.estimator not in HANDLES_MISSING:  # a factory's model decides
        _refuse_missing_numbers(config, frame, source)


def _refuse_missing_numbers(config: GovflowConfig, frame: pd.DataFrame, source: str | Path) -> None:
    """Missing numbers in a feature the estimator cannot take (it failed deep inside the fit: exit 3)."""
    for column in feature_columns(config, frame):
        series = frame[column]
        if not pd.api.types.is_numeric_dtype(series.dtype):
            continue  # categories: a missing value is one more category to the encoder
        missing = series.isna().to_numpy()
        if missing.any():
            raise DataError(MISSING_NUMBERS.format(
                source=source, column=column, count=int(missing.sum()), row=int(np.argmax(missing)) + 1,
                estimator=config.model.estimator, others=" or ".join(sorted(HANDLES_MISSING))))


def feature_columns(config: GovflowConfig, frame: pd.DataFrame) -> list[str]:
    """The columns the model sees, in the frame's order: those of ``data.features`` when given, else all
    but the target, the id, the excluded and (by default) the sensitive."""
    if config.data.features is not None:
        chosen = set(config.data.features)
        return [c for c in frame.columns if c in chosen]
    hidden = {config.data.target, *config.data.exclude}
    if config.data.id_column:
        hidden.add(config.data.id_column)
    if not config.data.sensitive_as_features:
        hidden |= {s.column for s in config.data.sensitive()}
    return [c for c in frame.columns if c not in hidden]


def unused_columns(config: GovflowConfig, frame: pd.DataFrame) -> list[str]:
    """Columns neither the model nor govflow uses (not features, target, id or sensitive): the data contract
    records them, but they are not checked as model inputs (an entirely empty one does not stop training)."""
    used = {*feature_columns(config, frame), config.data.target, *(s.column for s in config.data.sensitive())}
    if config.data.id_column:
        used.add(config.data.id_column)
    return [str(c) for c in frame.columns if c not in used]


def binary_target(config: GovflowConfig, values: pd.Series) -> pd.Series:
    """1 for the favourable outcome, else 0."""
    positive = config.data.positive_label
    return (values.astype(str) == str(positive)).astype(int)
