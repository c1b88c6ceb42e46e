"""govflow.governance.ledger: the append-only, hash-chained record everything else rests on.

`engine.Ledger` opens a ledger (SQLite or PostgreSQL, migrated by Alembic: ``migrations/``) and is
the one way to write: a `writer` transaction inserts rows (`rows`, `schema`) and one audit entry that
chains them (`govflow.canonical` defines the bytes hashed). Triggers refuse UPDATE and DELETE.
`verify` (with `verify_rows`, `schema_check`, `verify_report`) proves the ledger is what its chain
says; `anchors` keep chain heads outside it so a rewrite shows. `runs` records what a step was given
and produced, identified by content `fingerprint` s; `artifacts` stores files by their sha256.
"""
