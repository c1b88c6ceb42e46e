"""deployments/prefect.yaml: entrypoints that load, parameters the flows take, schedules from the config,
triggers on the very events the flows emit."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
import yaml

from govflow.flows.monitor import ALERT_EVENT
from govflow.flows.train import CANDIDATE_EVENT
from govflow.governance.config import load_config

REPO = Path(__file__).resolve().parents[2]
PREFECT_YAML = REPO / "deployments" / "prefect.yaml"


def deployments() -> list[dict[str, Any]]:
    return list(yaml.safe_load(PREFECT_YAML.read_text(encoding="utf-8"))["deployments"])


@pytest.mark.parametrize("deployment", deployments(), ids=lambda d: d["name"])
def test_entrypoint_loads_and_takes_the_parameters(deployment: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.flows import load_flow_from_entrypoint

    monkeypatch.chdir(REPO)
    flow: Any = load_flow_from_entrypoint(deployment["entrypoint"])
    accepted = set(inspect.signature(flow.fn).parameters)
    given = set(deployment.get("parameters", {}))
    for trigger in deployment.get("triggers", []):
        given |= set(trigger.get("parameters", {}))
    assert given <= accepted, f"{deployment['name']}: {sorted(given - accepted)} not taken by {flow.name}"
    assert "config_path" in given
    assert (REPO / deployment["parameters"]["config_path"]).is_file()
    assert deployment["work_pool"]["name"] == "govflow"


def test_monitoring_runs_on_the_configs_schedule() -> None:
    scheduled = [d for d in deployments() if d["entrypoint"].endswith(":monitor_flow")]
    assert scheduled
    for deployment in scheduled:
        config = load_config(REPO / deployment["parameters"]["config_path"])
        assert [s["cron"] for s in deployment["schedules"]] == [config.monitoring.schedule]


def test_triggers_listen_to_the_events_the_flows_emit() -> None:
    by_entrypoint = {d["entrypoint"]: d for d in deployments()}
    gate = by_entrypoint["flows/gate.py:gate_run"]["triggers"][0]
    assert gate["expect"] == [CANDIDATE_EVENT]
    assert gate["match"]["prefect.resource.id"] == "govflow.model.employment-screening:*"
    assert gate["parameters"]["version"] == "{{ event.resource['govflow.version'] }}"
    incident = by_entrypoint["flows/incident.py:incident_flow"]["triggers"][0]
    assert incident["expect"] == [ALERT_EVENT]
    assert incident["match"] == {"prefect.resource.id": "govflow.incident.*", "govflow.system": "employment-screening"}
    assert incident["parameters"]["incident_id"] == "{{ event.resource['govflow.incident'] }}"
