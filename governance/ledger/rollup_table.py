"""The dashboard's hourly sums as a table (migration 0011): the rows are described in
`govflow.governance.trail.rollup`, which keeps them. Not a history table: not chained, updated in
place, recounted by `govflow verify` (`HISTORY_TABLES` leaves it out by name)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from govflow.governance.ledger.schema import Base, UTCDateTime


class PredictionRollup(Base):
    """The prediction log summed per hour, version, decision and sensitive group (see the module)."""

    __tablename__ = "prediction_rollup"
    system: Mapped[str] = mapped_column(String(200), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    model_version_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    decision: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    cell: Mapped[str] = mapped_column(String(64), primary_key=True)
    attribute: Mapped[str] = mapped_column(Text)
    label: Mapped[str] = mapped_column(Text)
    n: Mapped[int] = mapped_column(BigInteger)
    out_of_domain: Mapped[int] = mapped_column(BigInteger)
    with_items: Mapped[int] = mapped_column(BigInteger)
