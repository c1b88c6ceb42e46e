"""`govflow diff NAME:V1 NAME:V2`: what differs between two model versions, from the ledger alone.

The root-cause view of an incident. For each version it reads what the ledger holds and compares:

* **training data**: the data sets the training run read and produced (fingerprints, schema hashes,
  row counts), and the columns of the raw training data (added, removed, type changed);
* **feature distributions**: from the reference (training) split stored with each version: per
  feature, summary figures and a distance between the two versions (numeric: Wasserstein distance
  divided by the pooled standard deviation; categorical: Jensen-Shannon distance, base 2; both 0 when
  identical, Evidently's defaults flag 0.1 or more as drift);
* **parameters**: the registered hyperparameters, key by key;
* **code**: the training run's code reference, source hash and package versions;
* **configuration**: the config in force, key by key, and the fairness metric configuration
  (the fully defaulted ``policy.fairness`` with the sensitive features and the policy hashes);
* **gate decisions**, with the **gate policy** each version's latest decision applied (as recorded
  with the decision, see `govflow.governance.registry.policies`) and exactly which bounds changed between them; the
  training config above may not be the policy a gate applied, since the config file can be edited
  between training and gating;
* the **production inputs' drift per feature**: the latest monitoring ``column_drift`` results
  recorded for each version.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, select

from govflow.governance.config import parse_config
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import Artifact, CheckResultRow, DatasetVersion, Edge, Run
from govflow.governance.lineage import graph
from govflow.governance.registry import policies
from govflow.governance.registry import versions as registry
from govflow.governance.registry.datasets import feature_columns

DISTANCE_NOTE = ("numeric: Wasserstein distance / pooled std; categorical: Jensen-Shannon distance (base 2); "
                 "0 = identical, 0.1 or more is what Evidently's defaults call drift")


@dataclass(frozen=True)
class VersionDiff:
    """The comparison of two versions: one JSON-safe section per aspect (see the module doc)."""

    left: str
    right: str
    versions: dict[str, Any]
    training_data: dict[str, Any]
    features: dict[str, Any]
    parameters: list[dict[str, Any]]
    code: dict[str, Any]
    config: list[dict[str, Any]]
    fairness_config: dict[str, Any]
    gate: dict[str, Any]
    production_drift: dict[str, Any]
    gate_policy: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"left": self.left, "right": self.right, "versions": self.versions,
                "training_data": self.training_data, "features": self.features, "parameters": self.parameters,
                "code": self.code, "config": self.config, "fairness_config": self.fairness_config,
                "gate": self.gate, "production_drift": self.production_drift, "gate_policy": self.gate_policy}

    def headline(self) -> list[str]:
        """The differences that matter most, one line each (empty when the versions match)."""
        lines = []
        changed = [d["name"] for d in self.training_data["datasets"] if d["status"] != "same"]
        if changed:
            lines.append(f"training data differs: {', '.join(changed)}")
        cols = self.training_data["columns"]
        for key in ("added", "removed", "type_changed"):
            if cols[key]:
                lines.append(f"training columns {key.replace('_', ' ')}: {', '.join(map(str, cols[key]))}")
        moved = [f["feature"] for f in self.features["by_feature"] if (f["distance"] or 0) >= 0.1]
        if moved:
            lines.append(f"feature distributions moved (distance >= 0.1): {', '.join(moved)}")
        if self.parameters:
            lines.append("parameters changed: " + ", ".join(p["key"] for p in self.parameters))
        if self.config:
            lines.append("configuration changed: " + ", ".join(c["key"] for c in self.config))
        if self.gate_policy.get("headline"):
            lines.append(self.gate_policy["headline"])
        if self.fairness_config["changed"]:
            lines.append("fairness metric configuration changed: " + ", ".join(self.fairness_config["changed"]))
        if self.code["changed"]:
            lines.append("code changed: " + ", ".join(self.code["changed"]))
        drifted = {side: [r["feature"] for r in rows if r["drifted"]]
                   for side, rows in self.production_drift.items() if isinstance(rows, list)}
        for side, names in drifted.items():
            if names:
                lines.append(f"production inputs drifted for {side}: {', '.join(names)}")
        return lines


def _changes(left: dict[str, Any], right: dict[str, Any]) -> list[dict[str, Any]]:
    a, b = policies.flatten(left), policies.flatten(right)
    return [{"key": k, "left": a.get(k), "right": b.get(k)} for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def _training_datasets(conn: Connection, training_run_id: str | None) -> list[dict[str, Any]]:
    if not training_run_id:
        return []
    scope = graph.descendants(conn, training_run_id)
    rows = conn.execute(
        select(Run.name, Edge.role, DatasetVersion.name, DatasetVersion.fingerprint, DatasetVersion.schema_hash,
               DatasetVersion.schema_json, DatasetVersion.row_count)
        .join(Edge, Edge.run_id == Run.id).join(DatasetVersion, DatasetVersion.id == Edge.entity_id)
        .where(Run.id.in_(scope), Edge.entity_kind == "dataset", Edge.direction == "output", Run.kind == "task")
        .order_by(Edge.audit_seq, Edge.id)).all()
    seen: dict[str, dict[str, Any]] = {}
    for step, role, name, fp, schema_hash, schema_json, count in rows:
        key = f"{step}.{role}"
        seen.setdefault(key, {"name": key, "dataset": name, "fingerprint": fp, "schema_hash": schema_hash,
                              "schema": json.loads(schema_json) if schema_json else None, "rows": count})
    return list(seen.values())


def _compare_datasets(left: list[dict[str, Any]], right: list[dict[str, Any]]) -> dict[str, Any]:
    a, b = {d["name"]: d for d in left}, {d["name"]: d for d in right}
    out = []
    for name in sorted(set(a) | set(b)):
        x, y = a.get(name), b.get(name)
        status = ("only_left" if y is None else "only_right" if x is None
                  else "same" if x["fingerprint"] == y["fingerprint"] else "different")
        out.append({"name": name, "status": status,
                    "left": None if x is None else {k: x[k] for k in ("dataset", "fingerprint", "schema_hash", "rows")},
                    "right": None if y is None else {k: y[k] for k in ("dataset", "fingerprint", "schema_hash", "rows")}})
    raw_a = next((d["schema"] for d in left if d["name"].startswith("load_data")), None) or []
    raw_b = next((d["schema"] for d in right if d["name"].startswith("load_data")), None) or []
    types_a, types_b = {c: t for c, t in raw_a}, {c: t for c, t in raw_b}
    columns = {"added": sorted(set(types_b) - set(types_a)), "removed": sorted(set(types_a) - set(types_b)),
               "type_changed": sorted(c for c in set(types_a) & set(types_b) if types_a[c] != types_b[c])}
    return {"datasets": out, "columns": columns}


def _reference(ledger: Ledger, model_version_id: str) -> pd.DataFrame | None:
    data = registry.attachment(ledger, model_version_id, "reference_data")
    return None if data is None else pd.read_parquet(io.BytesIO(data))


def _numeric(series: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
                and series.nunique(dropna=True) > 2)


def feature_distance(a: pd.Series, b: pd.Series) -> tuple[str, float | None]:
    """``(kind, distance)`` between two samples of one feature (see `DISTANCE_NOTE`)."""
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import wasserstein_distance

    a, b = a.dropna(), b.dropna()
    if a.empty or b.empty:
        return ("numeric" if _numeric(a if not a.empty else b) else "categorical"), None
    if _numeric(a) and _numeric(b):
        pooled = float(np.std(np.concatenate([a.to_numpy(float), b.to_numpy(float)])))
        distance = wasserstein_distance(a.to_numpy(float), b.to_numpy(float))
        return "numeric", float(distance / pooled) if pooled > 0 else 0.0
    pa = a.astype(str).value_counts(normalize=True)
    pb = b.astype(str).value_counts(normalize=True)
    keys = sorted(set(pa.index) | set(pb.index))
    return "categorical", float(jensenshannon([pa.get(k, 0.0) for k in keys], [pb.get(k, 0.0) for k in keys], base=2))


def _summary(series: pd.Series, kind: str) -> dict[str, Any]:
    clean = series.dropna()
    if clean.empty:
        return {"rows": 0}
    if kind == "numeric":
        q = clean.astype(float).quantile([0.05, 0.5, 0.95]).to_list()
        return {"rows": int(len(clean)), "mean": float(clean.mean()), "std": float(clean.std()),
                "p05": q[0], "median": q[1], "p95": q[2]}
    shares = clean.astype(str).value_counts(normalize=True).head(5)
    return {"rows": int(len(clean)), "top": [[str(k), float(v)] for k, v in shares.items()]}


def _compare_features(left: pd.DataFrame | None, right: pd.DataFrame | None, features: list[str]) -> dict[str, Any]:
    if left is None or right is None:
        return {"note": "a reference split is missing for one version", "by_feature": [], "method": DISTANCE_NOTE}
    rows: list[dict[str, Any]] = []
    for name in features:
        if name not in left or name not in right:
            rows.append({"feature": name, "kind": None, "distance": None,
                         "left": None if name not in left else "present", "right": None if name not in right else "present"})
            continue
        kind, distance = feature_distance(left[name], right[name])
        rows.append({"feature": name, "kind": kind, "distance": distance,
                     "left": _summary(left[name], kind), "right": _summary(right[name], kind)})
    rows.sort(key=lambda r: -(r["distance"] or 0.0))
    return {"method": DISTANCE_NOTE, "by_feature": rows, "left_rows": len(left), "right_rows": len(right)}


def _code(conn: Connection, run_id: str | None) -> dict[str, Any]:
    if not run_id:
        return {}
    row = conn.execute(select(Run.code_ref, Run.source_hash, Run.env_json).where(Run.id == run_id)).first()
    if row is None:
        return {}
    return {"code_ref": row[0], "source_hash": row[1], "env": json.loads(row[2])}


def latest_column_drift(conn: Connection, model_version_id: str) -> list[dict[str, Any]]:
    """Per feature, the latest monitoring ``column_drift`` result recorded for the version."""
    rows = conn.execute(select(CheckResultRow).where(
        CheckResultRow.model_version_id == model_version_id, CheckResultRow.kind == "drift",
        CheckResultRow.name == "column_drift").order_by(CheckResultRow.audit_seq, CheckResultRow.id)).mappings()
    latest: dict[str, dict[str, Any]] = {}
    for r in rows:
        details = json.loads(r["details_json"])
        latest[r["subject"]] = {"feature": r["subject"], "score": json.loads(r["observed_json"]),
                                "threshold": json.loads(r["threshold_json"]), "drifted": r["passed"] == 0,
                                "method": details.get("method"), "window": details.get("window")}
    return [latest[k] for k in sorted(latest)]


def _fairness_config(snapshot: dict[str, Any]) -> dict[str, Any]:
    from govflow.checks.policy import Policy

    policy = Policy.from_mapping(snapshot.get("policy", {}))
    return {"fairness": policy.fairness.model_dump(mode="json"),
            "sensitive_features": snapshot.get("data", {}).get("sensitive_features", []),
            "sensitive_as_features": snapshot.get("data", {}).get("sensitive_as_features", False),
            "policy_hash": policy.hash()}


def diff_versions(ledger: Ledger, left_ref: str, right_ref: str) -> VersionDiff:
    """Compare two versions (``NAME:VERSION`` each; aliases allowed)."""

    with ledger.read() as conn:
        left, right = registry.resolve(conn, left_ref), registry.resolve(conn, right_ref)
        rows = {side: registry.version_row(conn, ref.id) for side, ref in (("left", left), ("right", right))}
        snapshots = {side: json.loads(rows[side]["config_snapshot"]) for side in rows}
        versions = {side: {"version": str(ref), "fingerprint": rows[side]["fingerprint"],
                           "artifact_hash": rows[side]["artifact_hash"], "stage": registry.current_stage(conn, ref.id),
                           "training_run_id": rows[side]["training_run_id"]}
                    for side, ref in (("left", left), ("right", right))}
        datasets = _compare_datasets(_training_datasets(conn, rows["left"]["training_run_id"]),
                                     _training_datasets(conn, rows["right"]["training_run_id"]))
        codes = {side: _code(conn, rows[side]["training_run_id"]) for side in rows}
        gates = {side: registry.latest_decision(conn, ref.id) for side, ref in (("left", left), ("right", right))}
        applied = {side: policies.applied(conn, ref.system, gates[side], str(ref))
                   for side, ref in (("left", left), ("right", right))}
        drift = {side: latest_column_drift(conn, ref.id) for side, ref in (("left", left), ("right", right))}
        documents = {side: conn.execute(select(Artifact.kind).where(Artifact.model_version_id == ref.id)).scalars().all()
                     for side, ref in (("left", left), ("right", right))}
    refs = {"left": _reference(ledger, left.id), "right": _reference(ledger, right.id)}
    names: list[str] = []
    for side in ("left", "right"):
        frame = refs[side]
        if frame is not None:
            snapshot = dict(snapshots[side])
            base = Path(snapshot.pop("base_dir", "") or ".")
            cfg = parse_config(snapshot, base, source=f"the config stored with {versions[side]['version']}")
            sensitive = [s.column for s in cfg.data.sensitive()]
            names += [c for c in feature_columns(cfg, frame) + sensitive if c not in names]
    hyper = {side: json.loads(rows[side]["hyperparams_json"]) for side in rows}
    config_changes = _changes({k: v for k, v in snapshots["left"].items() if k != "base_dir"},
                              {k: v for k, v in snapshots["right"].items() if k != "base_dir"})
    fairness = {side: _fairness_config(snapshots[side]) for side in snapshots}
    fairness_changed = [c["key"] for c in _changes(fairness["left"], fairness["right"])]
    code_changed = [c["key"] for c in _changes({k: v for k, v in codes["left"].items()},
                                               {k: v for k, v in codes["right"].items()})]
    return VersionDiff(
        left=str(left), right=str(right), versions=versions, training_data=datasets,
        features=_compare_features(refs["left"], refs["right"], names), parameters=_changes(hyper["left"], hyper["right"]),
        code={"left": codes["left"], "right": codes["right"], "changed": code_changed}, config=config_changes,
        fairness_config={"left": fairness["left"], "right": fairness["right"], "changed": fairness_changed},
        gate={side: None if g is None else {"outcome": g["outcome"], "reasons": json.loads(g["reasons_json"]),
                                           "policy_hash": g["policy_hash"]} for side, g in gates.items()}
        | {"documents": {side: sorted(set(d)) for side, d in documents.items()}},
        production_drift={"left": drift["left"], "right": drift["right"],
                          "note": "latest monitoring column_drift result per feature (empty: never monitored)"},
        gate_policy=_gate_policy(applied["left"], applied["right"]),
    )


def _gate_policy(left: policies.AppliedPolicy | None, right: policies.AppliedPolicy | None) -> dict[str, Any]:
    """The policy each side's latest gate decision applied, and the bounds that changed (old -> new)."""
    return {"left": None if left is None else left.to_dict(), "right": None if right is None else right.to_dict(),
            "changed": policies.changed_bounds(left.content if left else None, right.content if right else None),
            "headline": policies.change_line(left, right)}


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    text = json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."


def render_text(d: VersionDiff) -> str:
    """The comparison as plain text for the terminal."""
    out = [f"diff {d.left} -> {d.right}", ""]
    headline = d.headline()
    out += ["summary:"] + ([f"  * {line}" for line in headline] or ["  * no difference found"]) + [""]
    out.append("versions:")
    for side in ("left", "right"):
        v = d.versions[side]
        out.append(f"  {v['version']:<28} stage {v['stage'] or '-':<10} model {v['fingerprint'][:20]}  trained in run {v['training_run_id']}")
    out += ["", "training data (by step.role):"]
    for ds in d.training_data["datasets"]:
        fps = [(ds[s] or {}).get("fingerprint", "-") for s in ("left", "right")]
        out.append(f"  {ds['name']:<26} {ds['status']:<10} {str(fps[0])[:20]:<20} {str(fps[1])[:20]}")
    out += ["", f"feature distributions of the reference splits ({d.features.get('method')}):"]
    for f in d.features["by_feature"][:20]:
        out.append(f"  {f['feature']:<24} {f['kind'] or '-':<12} distance {_fmt(f['distance'])}")
    out += ["", "parameters:"] + ([f"  {p['key']}: {_fmt(p['left'])} -> {_fmt(p['right'])}" for p in d.parameters] or ["  same"])
    out += ["", "configuration:"] + ([f"  {c['key']}: {_fmt(c['left'])} -> {_fmt(c['right'])}" for c in d.config] or ["  same"])
    out += ["", "fairness metric configuration (of each version's training config):"]
    out.append(f"  policy hash {d.fairness_config['left']['policy_hash'][:12]} -> {d.fairness_config['right']['policy_hash'][:12]}"
               + ("  (changed: " + ", ".join(d.fairness_config["changed"]) + ")" if d.fairness_config["changed"] else "  (same)"))
    out += ["", "gate policy (what each version's latest gate decision applied):"]
    for side in ("left", "right"):
        p = d.gate_policy.get(side)
        where = "-" if p is None else f"policy {p['policy_hash'][:12]}" + (
            f" (policies/{p['policy_record']})" if p["policy_record"] else " (content not recorded: decided before policies were)")
        out.append(f"  {d.versions[side]['version']:<28} {where}")
    if d.gate_policy.get("changed"):
        out += [f"  changed: {policies.describe_changes([c])}" for c in d.gate_policy["changed"]]
    elif d.gate_policy.get("headline"):
        out.append(f"  {d.gate_policy['headline']}")
    else:
        out.append("  same" if d.gate_policy.get("left") and d.gate_policy.get("right") else "  not comparable: a version has no gate decision")
    out += ["", "code:"]
    for side in ("left", "right"):
        c = d.code[side]
        out.append(f"  {d.versions[side]['version']:<28} {c.get('code_ref', '-')}  source {str(c.get('source_hash'))[:12]}")
    out += ["", "gate:"]
    for side in ("left", "right"):
        g = d.gate[side]
        out.append(f"  {d.versions[side]['version']:<28} {'-' if g is None else g['outcome']}")
    out += ["", "production inputs' drift per feature (latest monitoring result):"]
    for side in ("left", "right"):
        rows = d.production_drift[side]
        if not rows:
            out.append(f"  {d.versions[side]['version']:<28} never monitored")
            continue
        drifted = [r["feature"] for r in rows if r["drifted"]]
        out.append(f"  {d.versions[side]['version']:<28} {len(drifted)} of {len(rows)} features drifted"
                   + (f": {', '.join(drifted)}" if drifted else ""))
    return "\n".join(out)
