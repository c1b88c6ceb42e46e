"""A small AI system for the monitoring, incident and deployment tests, built for real.

`write_system` writes a generated data set (fair by construction: the label depends on the features,
not on the group) and its govflow.yaml with govflow's default policy; `release` trains, gates,
approves and promotes a version through the real flows and registry; `serve` logs predictions at
given times through the real serving path. `harness` is the session's Prefect test harness, shared
by the test folders (started once; reused when another folder already started one).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from govflow.governance.ledger.engine import Ledger
from govflow.governance.registry import versions as registry

REPO = Path(__file__).resolve().parents[2]
ROLES = ["model_owner", "risk_officer"]
CONFIG = """\
system:
  name: {name}
  intended_purpose: Prioritise applicants for a test programme (generated data, tests only)
  annex_iii: null
data:
  train: {data}
  target: label
  positive_label: "yes"
  sensitive_features: [group]
  id_column: applicant_id
{extra}model:
  estimator: logistic_regression
monitoring: {{schedule: "*/5 * * * *", window: 7d}}
"""


def applicants(n: int, seed: int, *, shift: float = 0.0, start_id: int = 0) -> pd.DataFrame:
    """Generated applicants: ``x1`` numeric, ``x2`` categorical, ``group`` A/B, ``label`` yes/no.

    ``shift`` moves ``x1`` and tilts ``x2`` (injected drift). The label depends on x1 and x2 only.
    """
    rng = np.random.default_rng(seed)
    x1 = rng.normal(shift, 1.0, n)
    if shift:  # stay inside the range the model was trained on: serving refuses values outside it
        x1 = np.clip(x1, -3.0, 3.0)
    p_x2 = [0.5, 0.3, 0.2] if shift == 0 else [0.1, 0.2, 0.7]
    x2 = rng.choice(["a", "b", "c"], n, p=p_x2)
    group = rng.choice(["A", "B"], n)
    logit = 1.5 * x1 + np.where(x2 == "a", 0.8, np.where(x2 == "b", 0.0, -0.8))
    label = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    return pd.DataFrame({"applicant_id": np.arange(start_id, start_id + n), "x1": x1.round(4), "x2": x2,
                         "group": group, "label": label})


def write_system(folder: Path, name: str = "toy-screening", n: int = 2000, policy: str = "") -> Path:
    """The data and govflow.yaml of a system in ``folder``; returns the config path."""
    folder.mkdir(parents=True, exist_ok=True)
    applicants(n, seed=0).to_csv(folder / f"{name}.csv", index=False)
    path = folder / f"{name}.govflow.yaml"
    path.write_text(CONFIG.format(name=name, data=f"{name}.csv", extra=policy), encoding="utf-8")
    return path


def release(ledger: Ledger, config_path: Path, *, promote: bool = True) -> str:
    """Train, gate, approve (both roles) and promote one version; returns NAME:VERSION."""
    from govflow.flows.gate import gate_flow
    from govflow.flows.train import train_flow

    trained = train_flow(str(config_path))
    gate = gate_flow(str(config_path), trained.version.rsplit(":", 1)[1])
    assert gate.outcome == "pass", gate.reasons
    for person, role in (("Dana Meyer", "model_owner"), ("Ravi Patel", "risk_officer")):
        registry.approve(ledger, trained.version, approver=person, role=role, reason="reviewed", required_roles=ROLES)
    if promote:
        registry.promote(ledger, trained.version, by="tests", required_roles=ROLES)
    return trained.version


def window_times(start: datetime, count: int, days: float = 7.0) -> list[datetime]:
    return [start + timedelta(days=days) * ((i + 0.5) / count) for i in range(count)]


def past_midnight(days_ago: int) -> datetime:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago)


def serve(ledger: Ledger, system: str, frame: pd.DataFrame, start: datetime, days: float = 7.0) -> list[str]:
    """Serve ``frame`` (its label column is dropped) over ``days`` from ``start``; the prediction ids."""
    from govflow.demo.employment import serve_rows

    rows = frame.drop(columns=["label"])
    return serve_rows(ledger, system, rows, window_times(start, len(rows), days), caller="tests",
                      request_id=f"tests-{start:%Y%m%d}", source="generated applicants")


def outcomes_file(folder: Path, frame: pd.DataFrame, name: str = "outcomes.csv", **columns: Any) -> Path:
    path = folder / name
    pd.DataFrame({"applicant_id": frame["applicant_id"], "label": frame["label"], **columns}).to_csv(path, index=False)
    return path


# -- a released system, built once per session and copied for each test --------------------------

_TEMPLATES: dict[str, Path] = {}


def template(root: Path, versions: int = 1) -> Path:
    """A folder with a system's config, data and a home whose ledger holds ``versions`` released versions."""
    from govflow.flows.recording import set_ledger

    key = f"v{versions}"
    if key not in _TEMPLATES:
        folder = root / key
        config = write_system(folder)
        ledger = Ledger.open(home=folder / "home")
        set_ledger(ledger)
        try:
            for _ in range(versions):
                release(ledger, config)
        finally:
            set_ledger(None)
            ledger.close()
        _TEMPLATES[key] = folder
    return _TEMPLATES[key]


def copy_of(folder: Path, target: Path) -> tuple[Path, Ledger]:
    """A private copy of a template: its config path and its ledger (recording points at it)."""
    import shutil

    from govflow.flows.recording import set_ledger

    shutil.copytree(folder, target)
    ledger = Ledger.open(home=target / "home")
    set_ledger(ledger)
    return target / "toy-screening.govflow.yaml", ledger
