"""govflow.governance: the record and everything read from it.

Everything a regulator or an auditor may ask about rests on one append-only, hash-chained ledger;
this layer owns it and every view of it. It uses `govflow.checks` (pure results) and never imports
`govflow.flows`, `govflow.web` or the CLI: the flows record through it, the service and the CLI read it.

- `ledger`: the ledger itself (engine, schema, rows, runs, verify, fingerprints, artifacts, anchors,
  migrations): the one way to write, and the proof that nothing changed since.
- `access`: who may do what: API tokens, auditor database roles, separation of duties, signatures.
- `registry`: model versions, stages, approvals and the policy in force, as ledger history; reading
  a system's data and building its estimator.
- `monitoring`: monitoring results over the prediction log, incidents and their reporting.
- `trail`: the prediction log (records, input schema, writers), its trace, search, exports,
  outcomes, retention and the dashboard's figures.
- `lineage`: the lineage graph over the ledger, `govflow trace`/`diff`, OpenLineage, PROV, sinks.
- `reports`: what is handed to people: generated documents, evidence, gap analysis, the auditor's
  bundle, risk classification, the regulation catalogues (``regulations/*.yaml``).
- `config` and `strict_yaml`: ``govflow.yaml``, one file per AI system, validated on load.
"""
