"""govflow.governance.registry: model versions and the rules they pass, as ledger history.

`versions` holds versions, stages, approvals and promotion (current state derived from history);
`policies`, `policy_in_force` and `gate_runs` say which policy a decision applied and whether it
counts. `datasets`, `frame_checks`, `estimators` and `factories` read a system's data and build its
model as its config says, refusing what would silently go wrong.
"""
