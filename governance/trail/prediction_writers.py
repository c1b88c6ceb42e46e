"""The dialect-specific write path of the prediction log, behind one small interface.

`write_predictions` (`govflow.governance.trail.predictions`) opens the ledger transaction and leaves
to a `PredictionWriter` what differs by database: checking, under the write lock, that each version
is still in production, and inserting the payload rows (``prediction_payloads``, not chained) of the
records it keeps. `writer_for` chooses one by the ledger's dialect; ``GOVFLOW_PREDICTION_WRITER``
(``auto``, the default, or ``portable``) can force the portable one, which works on any database.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select

from govflow.errors import InputError
from govflow.governance.ledger.chained import CHAINED_SQL, chained
from govflow.governance.ledger.rows import COPY_FROM_ROWS
from govflow.governance.ledger.schema import Prediction, PredictionPayload, StageChange
from govflow.governance.trail import prediction_rows as rows
from govflow.governance.trail.records import PredictionRecord

NOT_IN_PRODUCTION = "{version} is no longer in production (now {stage}); nothing was served: retry"
WRITER_SETTING = "GOVFLOW_PREDICTION_WRITER"
WRITER_CHOICES = ("auto", "portable")
BAD_WRITER = (WRITER_SETTING + "={value!r}: not a prediction writer; use one of: " + ", ".join(WRITER_CHOICES)
              + " (auto: the fastest for the ledger's database, portable: plain INSERTs on any database)")

_CURRENT_STAGE = (select(StageChange.stage).where(StageChange.model_version_id == bindparam("mv"), chained(StageChange))
                  .order_by(StageChange.audit_seq.desc(), StageChange.at.desc()).limit(1))  # built once


def _problem(mv_id: str, stage: str | None, versions: Mapping[str, str]) -> str | None:
    if stage == "production":
        return None
    return NOT_IN_PRODUCTION.format(version=versions.get(mv_id, mv_id), stage=stage or "unknown")


def _production_problems(conn: Connection, records: Sequence[PredictionRecord],
                         versions: Mapping[str, str]) -> dict[str, str]:
    """Per model version id no longer in production: why (checked inside the writing transaction)."""
    problems = {}
    for mv_id in {r.model_version_id for r in records}:
        problem = _problem(mv_id, conn.execute(_CURRENT_STAGE, {"mv": mv_id}).scalar(), versions)
        if problem:
            problems[mv_id] = problem
    return problems


PAYLOAD_COLUMNS = ("payload_hash", "salt", "features_json", "sensitive_json", "subject_id", "subject_id_sent",
                   "created_at")
COPY_PAYLOADS = 200  # PostgreSQL: from this many payloads in one batch, COPY (else one INSERT of arrays)
_PG_PAYLOADS_UNNEST = f"""INSERT INTO prediction_payloads ({', '.join(PAYLOAD_COLUMNS)})
SELECT p.*, %(at)s FROM unnest(%(payload_hash)b::text[], %(salt)b::text[], %(features_json)b::text[],
                              %(sensitive_json)b::text[], %(subject_id)b::text[], %(subject_id_sent)b::text[]) AS p"""


def _payload_rows(records: Sequence[PredictionRecord], stamp: Any) -> list[tuple[Any, ...]]:
    return [(r.payload_hash, r.salt, r.features_json, r.sensitive_json, r.subject_id, r.subject_id_sent, stamp)
            for r in records]


def _payload_copy_text(records: Sequence[PredictionRecord], created_at: datetime) -> bytes:
    """The payload rows as one COPY text stream (`PAYLOAD_COLUMNS` order), encoded once."""
    f, j, o = rows.copy_field, rows.copy_json, rows.copy_optional
    tail = "\t" + created_at.astimezone(UTC).isoformat() + "\n"
    return "".join([f"{f(r.payload_hash)}\t{f(r.salt)}\t{j(r.features_json)}\t{j(r.sensitive_json)}\t"
                    f"{o(r.subject_id)}\t{o(r.subject_id_sent)}{tail}" for r in records]).encode("utf-8")


_BINDS: dict[tuple[str, str], Any] = {}


def _bind(dialect: Any, column: Any) -> Any:
    """The column type's own bind processor on this dialect (identity when it has none), made once."""
    key = (dialect.name, str(column))
    if key not in _BINDS:
        _BINDS[key] = column.type.dialect_impl(dialect).bind_processor(dialect) or (lambda value: value)
    return _BINDS[key]


_INSERT_PREDICTIONS = f"INSERT INTO predictions ({', '.join(rows.COLUMNS)}) VALUES ({{marks}})"


class PredictionWriter:
    """The portable write path (any SQL database): one query per version, then executemany."""

    name = "portable"

    def check_and_insert(self, conn: Connection, records: Sequence[PredictionRecord], versions: Mapping[str, str],
                         created_at: datetime) -> dict[str, str]:
        """Per model version id no longer in production: why; the payloads of the others are inserted."""
        problems = _production_problems(conn, records, versions)
        kept = [r for r in records if r.model_version_id not in problems] if problems else records
        self.insert_payloads(conn, kept, created_at)
        return problems

    def insert_predictions(self, conn: Connection, cursor: Any, records: Sequence[PredictionRecord],
                           seq: int) -> list[str]:
        """The chained rows of ``records``, stamped ``seq``; returns their row hashes (`rows.Unusual`:
        a value of another type than its field's, nothing inserted)."""
        at = rows.stamps(records, _bind(conn.dialect, Prediction.__table__.c.served_at))  # type: ignore[attr-defined]
        hashes = rows.row_hashes(records, seq, at)
        self._insert_prediction_rows(conn, cursor, records, seq, at)
        return hashes

    def _insert_prediction_rows(self, conn: Connection, cursor: Any, records: Sequence[PredictionRecord], seq: int,
                                at: dict[datetime, tuple[str, Any]]) -> None:
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        sql, values = _INSERT_PREDICTIONS.format(marks=", ".join([mark] * len(rows.COLUMNS))), rows.db_rows(records, seq, at)
        if len(values) == 1:  # one request's record: psycopg's executemany would set up a pipeline for it
            cursor.execute(sql, values[0])
        else:
            cursor.executemany(sql, values)

    def insert_payloads(self, conn: Connection, records: Sequence[PredictionRecord], created_at: datetime) -> None:
        """The payload rows, in the caller's transaction."""
        if not records:
            return
        # The values are all plain text but one timestamp, the same for every row: converted once, with
        # the column type's own bind processor, then the rows go straight to the driver.
        stamp = _bind(conn.dialect, PredictionPayload.__table__.c.created_at)(created_at)  # type: ignore[attr-defined]
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(f"INSERT INTO prediction_payloads ({', '.join(PAYLOAD_COLUMNS)}) "
                               f"VALUES ({', '.join([mark] * len(PAYLOAD_COLUMNS))})", _payload_rows(records, stamp))
        finally:
            cursor.close()


class PostgresPredictionWriter(PredictionWriter):
    """PostgreSQL: a few records in one round trip (check and insert in one statement), many by COPY."""

    name = "postgresql"

    def check_and_insert(self, conn: Connection, records: Sequence[PredictionRecord], versions: Mapping[str, str],
                         created_at: datetime) -> dict[str, str]:
        if len(records) < COPY_PAYLOADS:
            return _check_and_insert_pg(conn, records, versions, created_at)
        return super().check_and_insert(conn, records, versions, created_at)

    def insert_payloads(self, conn: Connection, records: Sequence[PredictionRecord], created_at: datetime) -> None:
        """PostgreSQL through COPY (one stream instead of a message per row) or, for a few, one INSERT of arrays."""
        dbapi: Any = conn.connection.dbapi_connection
        if len(records) >= COPY_PAYLOADS:
            try:
                text = _payload_copy_text(records, created_at)
            except rows.Unusual:
                text = None
            with dbapi.cursor() as cursor, cursor.copy(
                    f"COPY prediction_payloads ({', '.join(PAYLOAD_COLUMNS)}) FROM STDIN") as copy:
                if text is not None:
                    copy.write(text)
                    return
                for row in _payload_rows(records, created_at):  # a subject id of another type: psycopg's own dumpers
                    copy.write_row(row)
        elif records:
            with dbapi.cursor() as cursor:
                cursor.execute(_PG_PAYLOADS_UNNEST, {
                    "at": created_at, "payload_hash": [r.payload_hash for r in records],
                    "salt": [r.salt for r in records], "features_json": [r.features_json for r in records],
                    "sensitive_json": [r.sensitive_json for r in records], "subject_id": [r.subject_id for r in records],
                    "subject_id_sent": [r.subject_id_sent for r in records]})


    def _insert_prediction_rows(self, conn: Connection, cursor: Any, records: Sequence[PredictionRecord], seq: int,
                                at: dict[datetime, tuple[str, Any]]) -> None:
        if len(records) < COPY_FROM_ROWS:
            super()._insert_prediction_rows(conn, cursor, records, seq, at)
            return
        with cursor.copy(f"COPY predictions ({', '.join(rows.COLUMNS)}) FROM STDIN") as copy:
            copy.write(rows.copy_text(records, seq, at))


WRITERS: dict[str, PredictionWriter] = {"postgresql": PostgresPredictionWriter()}
PORTABLE = PredictionWriter()


def writer_for(dialect: str, choice: str | None = None) -> PredictionWriter:
    """The writer for a ledger on ``dialect``: ``choice`` (else ``GOVFLOW_PREDICTION_WRITER``, else
    ``auto``) picks the dialect's own when there is one, ``portable`` the plain one."""
    chosen = (choice if choice is not None else os.environ.get(WRITER_SETTING, "auto")).strip().lower() or "auto"
    if chosen not in WRITER_CHOICES:
        raise InputError(BAD_WRITER.format(value=chosen))
    return WRITERS.get(dialect, PORTABLE) if chosen == "auto" else PORTABLE


# PostgreSQL, a batch of a few: the stage of each version, checked under the write lock, and the
# payload rows of the versions still in production, in ONE statement (arrays, not a row per
# message): one round trip, and no rows to take back when a version has left production.
_PG_CHECK_AND_INSERT = """
WITH stages AS (
  SELECT mv, (SELECT stage FROM stage_changes WHERE model_version_id = mv AND """ + CHAINED_SQL + """
              ORDER BY audit_seq DESC, at DESC LIMIT 1) AS stage
  FROM unnest(%(versions)b::text[]) AS mv
), inserted AS (
  INSERT INTO prediction_payloads (payload_hash, salt, features_json, sensitive_json, subject_id, subject_id_sent,
                                   created_at)
  SELECT p.payload_hash, p.salt, p.features_json, p.sensitive_json, p.subject_id, p.subject_id_sent, %(at)s
  FROM unnest(%(payload_hash)b::text[], %(salt)b::text[], %(features_json)b::text[], %(sensitive_json)b::text[],
              %(subject_id)b::text[], %(subject_id_sent)b::text[], %(mv)b::text[])
       AS p(payload_hash, salt, features_json, sensitive_json, subject_id, subject_id_sent, mv)
  JOIN stages ON stages.mv = p.mv AND stages.stage = 'production'
)
SELECT mv, stage FROM stages"""


def _check_and_insert_pg(conn: Connection, records: Sequence[PredictionRecord], versions: Mapping[str, str],
                         created_at: datetime) -> dict[str, str]:
    """PostgreSQL: the production check and the payload rows of the records it keeps, one round trip.

    Every round trip of the group commit is a wait for the server and then for a CPU (and, in a
    thread, for the GIL); with a pipeline instead, psycopg's polling for a few rows cost more CPU
    than the rows themselves.
    """
    cursor: Any = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(_PG_CHECK_AND_INSERT, {
            "versions": sorted({r.model_version_id for r in records}), "at": created_at,
            "payload_hash": [r.payload_hash for r in records], "salt": [r.salt for r in records],
            "features_json": [r.features_json for r in records], "sensitive_json": [r.sensitive_json for r in records],
            "subject_id": [r.subject_id for r in records], "subject_id_sent": [r.subject_id_sent for r in records],
            "mv": [r.model_version_id for r in records]})
        stages = cursor.fetchall()
    finally:
        cursor.close()
    return {mv: problem for mv, stage in stages if (problem := _problem(mv, stage, versions))}
