"""What pandas does silently to a data file, refused instead (`DataError`, exit 2).

- A header that names a column twice: pandas renames the copy ``credit_amount.1`` and carries on.
- A number too large for a 64-bit float (``1e400``): pandas reads the whole column as text, so a
  numeric feature silently becomes a categorical one.
- An infinite number (``inf``): no model can use it, and scikit-learn fails deep inside a fit.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from govflow.errors import DataError

DUPLICATE_HEADER = ("{file}: column '{column}' appears {count} times in the header (columns {positions}); rename or "
                    "drop the copies (pandas would silently call them '{column}.1', ...)")
UNREADABLE_NUMBER = ("{file}: column '{column}', row {row}: value '{value}' is not a number that fits a 64-bit float "
                     "(the column would silently be read as text); fix the value or remove the row")
UNUSUAL_NUMBER = ("{file}: column '{column}', row {row}: value '{value}' is not written as a plain number (digits 0-9, "
                  "'.', 'e') (the column would silently be read as text); fix the value or remove the row")
NOT_FINITE = "{file}: column '{column}', row {row}: value {value} is not a finite number; fix the value or remove the row"


def check_csv_header(file: Path) -> None:
    """Refuse a CSV header that names a column more than once (pandas would rename the copies)."""
    with open(file, encoding="utf-8-sig", errors="replace", newline="") as handle:
        header = next(csv.reader(handle), [])
    _refuse_duplicates(file, [name.strip() for name in header])


def check_frame(file: Path, frame: pd.DataFrame) -> None:
    """Refuse duplicate column names, numbers pandas could not read, and infinite numbers."""
    _refuse_duplicates(file, [str(c) for c in frame.columns])
    for position, column in enumerate(frame.columns):
        series = frame.iloc[:, position]
        if series.dtype == object:
            _refuse_unreadable_numbers(file, str(column), series)
        elif pd.api.types.is_float_dtype(series.dtype):
            infinite = np.isinf(series.to_numpy(dtype=float, na_value=np.nan))
            if infinite.any():
                row = int(np.argmax(infinite))
                raise DataError(NOT_FINITE.format(file=file, column=column, row=row + 1, value=series.iloc[row]))


def _refuse_duplicates(file: Path, names: list[str]) -> None:
    for name, count in Counter(names).items():
        if count > 1:
            positions = [str(i + 1) for i, n in enumerate(names) if n == name]
            raise DataError(DUPLICATE_HEADER.format(file=file, column=name, count=count,
                                                    positions=" and ".join([", ".join(positions[:-1]), positions[-1]])))


def _refuse_unreadable_numbers(file: Path, column: str, series: pd.Series) -> None:
    """A text column whose values are numbers, but some too large for pandas: refuse the first such value."""
    present = series.dropna()
    if present.empty or not _is_number(present.iloc[0]):
        return  # a text column (the cheap test: its first value is not a number)
    numeric = pd.to_numeric(present, errors="coerce")
    failed = present[numeric.isna()]
    if failed.empty or numeric.notna().sum() == 0 or not all(_is_number(v) for v in failed):
        return  # every value read as a number (mixed types), or some are real text: a categorical column
    row = int(series.index.get_indexer([failed.index[0]])[0])
    value = failed.iloc[0]
    template = UNREADABLE_NUMBER if math.isinf(float(value)) else UNUSUAL_NUMBER
    raise DataError(template.format(file=file, column=column, row=row + 1, value=value))


def _is_number(value: object) -> bool:
    if not isinstance(value, str):
        return isinstance(value, int | float) and not isinstance(value, bool)
    try:
        float(value)
    except ValueError:
        return False
    return not math.isnan(float(value))
