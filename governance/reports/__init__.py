"""govflow.governance.reports: what the ledger is turned into for people.

`documents/` renders model cards, datasheets, Annex IV documentation and incident notices from
`evidence`; `gap` (with `gap_*`) assesses a system against the requirement catalogues in
``regulations/*.yaml``; `bundle` exports everything about a version as a zip an auditor verifies with
`bundle_verifier` alone; `classification` gives the EU AI Act risk class of an intended purpose.
"""
