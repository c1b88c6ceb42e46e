"""This team's own Prefect flows. The package is called ``flows``, like govflow's top-level folder:
govflow lives under ``govflow.flows``, so the two never collide."""
