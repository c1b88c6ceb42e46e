"""Monitoring tests: the session's Prefect harness and a released system copied for each test."""

from tests.monitoring.fixtures import _govflow_env, released

__all__ = ["_govflow_env", "released"]
