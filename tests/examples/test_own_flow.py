"""examples/own-flow, run as its user would: `python -m flows.pipeline` in the example's folder.

The example has its own ``flows`` package; govflow's is ``govflow.flows``, so nothing collides. Its
steps are ``@govflow.task``s, its pipeline is fitted by ``govflow.train`` (``model.factory``) on the
frame its own step built, and ``govflow.gate`` decides. Afterwards ``govflow trace model`` shows its
steps with their inputs and outputs, and ``govflow verify`` passes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from govflow.governance.ledger.fingerprint import fingerprint

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "own-flow"
GOVFLOW = str(Path(sys.executable).parent / "govflow")


def _env(home: Path) -> dict[str, str]:
    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in os.environ.items() if k not in ("GOVFLOW_DB_URL", "PYTHONPATH")}
    env.update(GOVFLOW_HOME=str(home), PREFECT_API_URL=str(PREFECT_API_URL.value()),  # the harness's server
               PREFECT_LOGGING_LEVEL="WARNING", DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false")
    return env


def _nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node] + [n for child in node.get("children", ()) for n in _nodes(child)]


def test_the_own_flow_example_is_governed_and_traced(tmp_path: Path) -> None:
    env = _env(tmp_path / "home")
    run = subprocess.run([sys.executable, "-m", "flows.pipeline"], cwd=EXAMPLE, env=env, capture_output=True,
                         text=True, timeout=300)
    out = run.stdout
    assert "registered own-credit:1 as candidate" in out, out + run.stderr
    assert out.startswith("cross-validated ROC AUC 0.")
    # The policy is govflow's default and nothing is tuned: on this data the equalized odds gap blocks.
    assert "gate block for own-credit:1" in out
    assert "  - fairness: equalized_odds_difference on personal_status_and_sex = " in out
    assert run.returncode == 1, out + run.stderr

    trace = subprocess.run([GOVFLOW, "trace", "model", "own-credit:1", "--json"], cwd=EXAMPLE, env=env,
                           capture_output=True, text=True, timeout=120)
    assert trace.returncode == 0, trace.stdout + trace.stderr
    nodes = _nodes(json.loads(trace.stdout))
    runs = {n["name"]: n for n in nodes if n["type"] == "run"}
    assert {"load_applications", "build_features", "split_data", "fit_model"} <= set(runs)
    features = runs["build_features"]
    [applications] = [c for c in features["children"] if c.get("role") == "applications"]
    assert applications["kind"] == "dataset" and applications["row_count"] == 1000
    assert "credit_per_month" not in {name for name, _ in applications["columns"]}
    [source] = [c for c in runs["load_applications"]["children"] if c.get("role") == "path"]
    assert (source["kind"], source["fingerprint"]) == fingerprint(ROOT / "data" / "german_credit.csv")
    # build_features' output is what govflow's split took: the frame with the team's own feature.
    [frame] = [n for n in nodes if n.get("name") == "build_features.return"]
    assert frame["role"] == "frame" and frame["row_count"] == 1000
    assert ["credit_per_month", "float64"] in frame["columns"]
    assert runs["build_features"] in frame["children"]
    trained_in = runs["train"]
    assert trained_in["kind"] == "flow" and trained_in["state"] == "completed"

    parent = subprocess.run([GOVFLOW, "trace", "run", trained_in["parent_run_id"], "--json"], cwd=EXAMPLE, env=env,
                            capture_output=True, text=True, timeout=120)
    assert parent.returncode == 0, parent.stdout + parent.stderr
    flow = json.loads(parent.stdout)
    assert flow["name"] == "own-credit-pipeline" and flow["state"] == "completed"
    [steps] = [c for c in flow["children"] if c["type"] == "steps"]
    assert {s["name"] for s in steps["children"]} == {"load_applications", "build_features",
                                                               "cross_validate", "train", "gate"}

    verify = subprocess.run([GOVFLOW, "verify"], cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stdout.startswith("ledger intact: ")
