"""Late outcomes: the true labels of served predictions, attached when they become known.

`govflow outcomes -c govflow.yaml --input FILE` reads a csv or parquet file in one of two forms:

* ``prediction_id`` and the label column: each row names the prediction it answers (the id that
  ``govflow serve`` and ``govflow run score --output`` hand out);
* the system's id column (``data.id_column``) and the label column: each row is joined, through
  the prediction payloads' subject id, to the *latest* prediction served for that subject.

The label column is the system's ``data.target``, or ``label``. Labels are stored as given
(``outcomes.outcome_json = {"label": value}``) and judged against ``data.positive_label`` by the
monitor. An outcome is appended, never changed: a later one for the same prediction supersedes the
earlier (the monitor reads the latest). Rows that match no prediction of the system are counted and
left out; a file that matches none is refused (exit 2). One file is one transaction, one audit entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import select

from govflow import canonical as canon
from govflow.errors import DataError
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import Outcome, Prediction, PredictionPayload

NO_KEY = ("{source}: needs a column 'prediction_id', or the id column '{id_column}' joined through the "
          "predictions' subject ids; found: {columns}")
NO_KEY_NO_ID = "{source}: needs a column 'prediction_id' (the system has no data.id_column to join on); found: {columns}"
NO_LABEL = "{source}: needs the label column '{target}' (or 'label'); found: {columns}"
NULL_LABELS = "{source}: {count} row(s) have no label (e.g. row {row}); drop them or fill them in"
NOTHING_MATCHED = ("{source}: none of its {rows} rows matches a prediction of {system}; check the ids "
                   "(and that the predictions were logged in this ledger)")


@dataclass(frozen=True)
class OutcomeReceipt:
    """What was attached: counts, and the audit entry that covers them."""

    rows: int
    attached: int
    unmatched: int
    superseded: int  #: predictions that already had an outcome (the new one now counts)
    joined_on: str  #: prediction_id | the id column
    seq: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "attached": self.attached, "unmatched": self.unmatched,
                "superseded": self.superseded, "joined_on": self.joined_on, "seq": self.seq}


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def attach_outcomes(ledger: Ledger, *, system: str, frame: pd.DataFrame, target: str, id_column: str | None,
                    source: str = "the outcomes file") -> OutcomeReceipt:
    """Attach the labels of `frame` to the system's predictions (see the module doc for the forms)."""
    columns = ", ".join(map(str, frame.columns[:12]))
    label = target if target in frame.columns else "label" if "label" in frame.columns else None
    if label is None:
        raise DataError(NO_LABEL.format(source=source, target=target, columns=columns))
    if "prediction_id" in frame.columns:
        key = "prediction_id"
    elif id_column and id_column in frame.columns:
        key = id_column
    else:
        template = NO_KEY if id_column else NO_KEY_NO_ID
        raise DataError(template.format(source=source, id_column=id_column, columns=columns))
    missing = frame[label].isna()
    if missing.any():
        raise DataError(NULL_LABELS.format(source=source, count=int(missing.sum()), row=int(missing.to_numpy().argmax())))
    with ledger.write("outcomes.attached", f"{system}: {source}") as w:
        if key == "prediction_id":
            wanted = frame["prediction_id"].astype(str)
            known: set[str] = set()
            ids = wanted.unique().tolist()
            for i in range(0, len(ids), 900):
                known |= set(w.conn.execute(select(Prediction.id).where(
                    Prediction.system == system, Prediction.id.in_(ids[i:i + 900]))).scalars())
            targets = wanted.where(wanted.isin(known))
        else:
            served = pd.DataFrame(w.conn.execute(
                select(PredictionPayload.subject_id, Prediction.id, Prediction.served_at)
                .join(PredictionPayload, PredictionPayload.payload_hash == Prediction.payload_hash)
                .where(Prediction.system == system, PredictionPayload.subject_id.is_not(None))).all(),
                columns=["subject", "prediction_id", "served_at"])
            latest = served.sort_values(["served_at", "prediction_id"]).drop_duplicates("subject", keep="last")
            lookup = dict(zip(latest["subject"], latest["prediction_id"]))
            targets = frame[key].astype(str).map(lookup)
        matched = targets.notna()
        if not matched.any():
            raise DataError(NOTHING_MATCHED.format(source=source, rows=len(frame), system=system))
        chosen = pd.DataFrame({"prediction_id": targets[matched], "label": frame.loc[matched, label]})
        chosen = chosen.drop_duplicates("prediction_id", keep="last")
        ids = chosen["prediction_id"].tolist()
        had: set[str] = set()
        for i in range(0, len(ids), 900):
            had |= set(w.conn.execute(select(Outcome.prediction_id).where(Outcome.prediction_id.in_(ids[i:i + 900]))).scalars())
        now = canon.utc_now()
        for pid, value in zip(ids, chosen["label"].tolist()):
            w.add(Outcome, prediction_id=pid, outcome_json=canon.canonical({"label": _plain(value)}).decode("utf-8"), at=now)
    return OutcomeReceipt(rows=len(frame), attached=len(ids), unmatched=int((~matched).sum()),
                          superseded=len(had), joined_on=key, seq=w.seq)
