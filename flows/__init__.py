"""govflow.flows: the Prefect flows, and the recording that puts every step of them in the ledger.

`recording` is govflow's own ``@task``/``@flow`` (with `recorder`, `recording_facts`,
`recording_publish`, `recorded`): a recorded step writes one audit entry. The flows: `train`, `gate`,
`register`, `score`, `monitor` (with `monitor_checks`, `monitor_system`), `incident`, `fleet`,
`recommender_flow`; `steps` holds the tasks they share, `serving` the version that answers for a
system, `lineage` and `anchoring`/`anchor_prefect` what is published as steps end. Estimator code
lives in `models`. Flows import `govflow.governance` and `govflow.checks`, never the web or CLI.
"""
