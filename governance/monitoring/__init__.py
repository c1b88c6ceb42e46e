"""govflow.governance.monitoring: what happens after deployment, as ledger records.

`results` cuts the prediction log into time windows and stores monitoring results; `incidents`
(with `incident_kinds`, `impact`, `response_plan`) opens incidents with their EU AI Act Art. 73
deadline and runs the playbook; `reporting` follows one to its end. The Prefect flows that drive
them live in `govflow.flows` (monitor, incident).
"""
