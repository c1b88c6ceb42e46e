"""govflow.governance.trail: the prediction log, and every question asked of it.

`predictions` logs what a served model was given and answered (`records`, `input_schema` for the
request's validation, `prediction_writers` for the dialect-specific write path, `redaction`); `trace`
takes one decision back to its evidence; `search`, `bulk_export` and `ecs` read and export the log;
`outcomes` attaches late true labels; `retention` purges personal data under tombstones; `explain`
and `attribution` explain a single decision; `exposure`, `dashboard_data` and `dashboard_figures`
compute what the dashboard shows.
"""
