"""govflow.flows.models: the model code the flows run, as plain functions (tasks wrap them).

`tabular` builds, fits and uses scikit-learn models; `recommender` is the recommendation scenario's
model; `files` and `mlflow_source` read models fitted elsewhere; `explaining` replays one decision
with the exact version that made it.
"""
