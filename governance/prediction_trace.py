"""`govflow trace prediction ID`: one decision of a served model, back to the evidence it rests on.

prediction (its input unless purged, its output, who asked, when, the audit entry that recorded it)
→ the model version that answered (its stage when it answered) → the gate decision and the named
approvals in force when that version was put in production → the training run → the data sets it
trained on (by fingerprint) → the validation, performance and fairness results of the gate run
behind that decision.

``ID`` is a prediction id, or the request id of a single-record request (a batch's request id names
several predictions: the error lists them). Every lookup is by an indexed key, so a trace costs the
same with a million predictions logged as with ten. `trace_prediction` returns plain JSON-safe
data; `render` draws it as a tree.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from checks.errors import InputError
from governance import canonical as canon
from governance import lineage_graph as graph
from governance.schema import (
    Approval,
    AuditEntry,
    CheckResultRow,
    Decision,
    ModelVersion,
    Prediction,
    PredictionPayload,
    Purge,
    PurgedPayload,
    StageChange,
)

UNKNOWN_PREDICTION = "no prediction has the id or request id '{given}'"
SEVERAL_PREDICTIONS = ("request id '{given}' names {count} predictions (a batch request); trace one by its "
                       "prediction id: {shown}")


def _ts(moment: datetime | None) -> str | None:
    return None if moment is None else canon.format_ts(moment)


def find_prediction(conn: Connection, given: str) -> dict[str, Any]:
    """The prediction row with this id, else the only one with this request id."""
    text = given.strip()
    row = conn.execute(select(Prediction).where(Prediction.id == text)).mappings().first()
    if row is not None:
        return dict(row)
    found = conn.execute(select(Prediction).where(Prediction.request_id == text).order_by(Prediction.id).limit(6)).mappings().all()
    if not found:
        raise InputError(UNKNOWN_PREDICTION.format(given=given))
    if len(found) > 1:
        count = conn.execute(select(func.count()).select_from(Prediction).where(Prediction.request_id == text)).scalar_one()
        shown = ", ".join(r["id"] for r in found[:5]) + (", ..." if count > 5 else "")
        raise InputError(SEVERAL_PREDICTIONS.format(given=given, count=count, shown=shown))
    return dict(found[0])


def _input(conn: Connection, payload_hash: str) -> dict[str, Any]:
    payload = conn.execute(select(PredictionPayload).where(PredictionPayload.payload_hash == payload_hash)).mappings().first()
    if payload is not None:
        return {"features": json.loads(payload["features_json"]), "sensitive": json.loads(payload["sensitive_json"]),
                "subject_id": payload["subject_id"], "payload_hash": payload_hash}
    purge = conn.execute(
        select(Purge.kind, Purge.at, Purge.by, Purge.reason).join(PurgedPayload, PurgedPayload.purge_id == Purge.id)
        .where(PurgedPayload.payload_hash == payload_hash).limit(1)).first()
    if purge is None:
        return {"payload_hash": payload_hash, "missing": "the payload is gone without a purge tombstone (run govflow verify)"}
    return {"payload_hash": payload_hash, "purged": {"kind": purge[0], "at": _ts(purge[1]), "by": purge[2], "reason": purge[3]}}


def _before(rows: Iterable[dict[str, Any]], seq: int | None) -> list[dict[str, Any]]:
    return [r for r in rows if seq is None or r["audit_seq"] < seq]


def _check(row: dict[str, Any]) -> dict[str, Any]:
    return {"kind": row["kind"], "name": row["name"], "subject": row["subject"],
            "passed": None if row["passed"] is None else bool(row["passed"]),
            "observed": json.loads(row["observed_json"]), "threshold": json.loads(row["threshold_json"]),
            "severity": row["severity"]}


def _gate_checks(conn: Connection, decision: dict[str, Any] | None, mv_id: str) -> list[dict[str, Any]]:
    """The check results of the gate run behind a decision (its sibling tasks), else the version's own."""
    if decision is None:
        return []
    rows: list[dict[str, Any]] = []
    if decision["run_id"]:
        run = graph.runs(conn, [decision["run_id"]]).get(decision["run_id"])
        scope = graph.children(conn, run.parent_run_id) if run and run.parent_run_id else [decision["run_id"]]
        rows = [r for found in graph.checks_of_runs(conn, scope).values() for r in found]
    if not rows:
        rows = [dict(r) for r in conn.execute(
            select(CheckResultRow).where(CheckResultRow.model_version_id == mv_id,
                                         CheckResultRow.audit_seq < decision["audit_seq"])
            .order_by(CheckResultRow.audit_seq, CheckResultRow.id)).mappings()]
    return [_check(r) for r in rows]


def _summary(checks: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for c in checks:
        counts = out.setdefault(c["kind"], {"passed": 0, "failed": 0, "not_judged": 0})
        counts["not_judged" if c["passed"] is None else "passed" if c["passed"] else "failed"] += 1
    return out


def _training(conn: Connection, run_id: str | None, model_fp: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    if not run_id:
        return None, []
    run = graph.runs(conn, [run_id]).get(run_id)
    if run is None:
        return {"run_id": run_id, "missing": True}, []
    scope = [run_id, *graph.children(conn, run_id)]
    views = graph.runs(conn, scope)
    edges = [e for e in graph.edges_of_runs(conn, scope) if e.kind == "dataset"]
    fit_runs = {e.run_id for e in graph.edges_of_runs(conn, scope) if e.kind == "model" and e.direction == "output"
                and e.fingerprint == model_fp}
    ents = graph.entities(conn, [e.fingerprint for e in edges])
    data: dict[str, dict[str, Any]] = {}
    for e in edges:
        ent = ents.get(e.fingerprint)
        item = data.setdefault(e.fingerprint, {
            "fingerprint": e.fingerprint, "name": ent.name if ent else e.role,
            "row_count": ent.row_count if ent else None, "uri": ent.uri if ent else None,
            "columns": len(ent.schema) if ent and ent.schema else None, "used_by": [], "trained_on": False})
        step = views[e.run_id].name if e.run_id in views else e.run_id
        item["used_by"].append(f"{step} ({e.direction} {e.role})")
        if e.direction == "input" and e.run_id in fit_runs:
            item["trained_on"] = True
    return ({"run_id": run.id, "name": run.name, "state": run.state, "started_at": _ts(run.started_at),
             "ended_at": _ts(run.ended_at), "code_ref": run.code_ref, "prefect_run_id": run.prefect_run_id},
            list(data.values()))


def trace_prediction(conn: Connection, given: str) -> dict[str, Any]:
    """The whole trace of one prediction, as JSON-safe data (see the module docstring)."""
    p = find_prediction(conn, given)
    entry = conn.execute(select(AuditEntry.seq, AuditEntry.recorded_at, AuditEntry.entry_hash)
                         .where(AuditEntry.seq == p["audit_seq"])).first()
    mv = conn.execute(select(ModelVersion).where(ModelVersion.id == p["model_version_id"])).mappings().one()
    stages = [dict(s) for s in conn.execute(select(StageChange).where(StageChange.model_version_id == mv["id"])
                                            .order_by(StageChange.audit_seq, StageChange.at)).mappings()]
    when_served = [s for s in stages if s["at"] <= p["served_at"]]
    stage_then = when_served[-1]["stage"] if when_served else None
    promotions = [s for s in when_served if s["stage"] == "production"] or [s for s in stages if s["stage"] == "production"]
    promoted_seq = promotions[-1]["audit_seq"] if promotions else None
    decisions = _before([dict(d) for d in conn.execute(select(Decision).where(Decision.model_version_id == mv["id"])
                                                       .order_by(Decision.audit_seq)).mappings()], promoted_seq)
    decision = decisions[-1] if decisions else None
    approvals: dict[str, dict[str, Any]] = {}
    for a in _before([dict(a) for a in conn.execute(select(Approval).where(Approval.model_version_id == mv["id"])
                                                    .order_by(Approval.audit_seq)).mappings()], promoted_seq):
        approvals[a["role"]] = a
    checks = _gate_checks(conn, decision, mv["id"])
    training_run, training_data = _training(conn, mv["training_run_id"], mv["fingerprint"])
    scoring = graph.runs(conn, [p["request_id"]]).get(p["request_id"])  # a batch flow's rows carry its run id
    return {
        "prediction": {
            "id": p["id"], "request_id": p["request_id"], "system": p["system"], "served_at": _ts(p["served_at"]),
            "caller": p["caller"], "latency_ms": p["latency_ms"], "output": json.loads(p["output_json"]),
            "input": _input(conn, p["payload_hash"]),
            "scoring_run": None if scoring is None else {"run_id": scoring.id, "name": scoring.name, "state": scoring.state},
            "audit_entry": {"seq": p["audit_seq"], "recorded_at": entry[1] if entry else None,
                            "entry_hash": entry[2] if entry else None},
        },
        "model_version": {
            "ref": f"{mv['system']}:{mv['version']}", "id": mv["id"], "fingerprint": mv["fingerprint"],
            "artifact_hash": mv["artifact_hash"], "created_at": _ts(mv["created_at"]),
            "stage_when_served": stage_then, "in_production_when_served": stage_then == "production",
            "stage_now": stages[-1]["stage"] if stages else None,
            "stages": [{"stage": s["stage"], "at": _ts(s["at"]), "by": s["by"], "reason": s["reason"]} for s in stages],
        },
        "gate_decision": None if decision is None else {
            "outcome": decision["outcome"], "reasons": json.loads(decision["reasons_json"]),
            "policy_hash": decision["policy_hash"], "decided_at": _ts(decision["decided_at"]), "run_id": decision["run_id"]},
        "approvals": [{"role": a["role"], "approver": a["approver"], "os_user": a["os_user"], "decision": a["decision"],
                       "rationale": a["rationale"], "decided_at": _ts(a["decided_at"]), "evidence_hash": a["evidence_hash"]}
                      for a in approvals.values()],
        "training_run": training_run,
        "training_data": training_data,
        "checks_at_approval": {"summary": _summary(checks), "results": checks},
    }


def render(trace: dict[str, Any], *, failures_shown: int = 10) -> str:
    """The trace as an indented tree (the JSON form has every check result)."""
    from governance.trace import Node
    from governance.trace import render as draw

    p, mv = trace["prediction"], trace["model_version"]
    entry = p["audit_entry"]
    root = Node("prediction", f"prediction {p['id']} · {p['system']} · {p['served_at']} · caller {p['caller']}")
    root.children.append(Node("request", f"request {p['request_id']} · latency {p['latency_ms']:.2f} ms · recorded in "
                                         f"audit entry {entry['seq']} ({(entry['entry_hash'] or '-')[:16]}...)"))
    if p.get("scoring_run"):
        sr = p["scoring_run"]
        root.children.append(Node("run", f"scored by the {sr['name']} flow run {sr['run_id']} ({sr['state']})"))
    root.children.append(Node("output", f"output: {canon.canonical(p['output']).decode()[:200]}"))
    given = p["input"]
    if "features" in given:
        subject = f" · subject {given['subject_id']}" if given.get("subject_id") else ""
        label = (f"input: {len(given['features'])} features, {len(given['sensitive'])} sensitive attribute(s){subject}"
                 f" · payload {given['payload_hash'][:16]}...")
    elif "purged" in given:
        pg = given["purged"]
        label = f"input: purged ({pg['kind']}) at {pg['at']} by {pg['by']}: {pg['reason']} · payload {given['payload_hash'][:16]}..."
    else:
        label = f"input: MISSING: {given['missing']}"
    root.children.append(Node("input", label))
    flag = "" if mv["in_production_when_served"] else " · NOT IN PRODUCTION WHEN SERVED"
    model = Node("model", f"model {mv['ref']} · {mv['stage_when_served'] or 'no stage'} when served, "
                          f"{mv['stage_now']} now · {graph.short(mv['fingerprint'], 12)}{flag}")
    root.children.append(model)
    d = trace["gate_decision"]
    if d is None:
        model.children.append(Node("decision", "gate decision: NONE recorded"))
    else:
        reasons = "; ".join(map(str, d["reasons"][:3]))
        model.children.append(Node("decision", f"gate {d['outcome']} · {d['decided_at']} · policy "
                                               f"{d['policy_hash'][:12]} · {reasons[:200]}"))
    for a in trace["approvals"]:
        model.children.append(Node("approval", f"{a['decision']} by {a['approver']} ({a['role']}, OS user "
                                               f"{a['os_user']}) · {a['decided_at']} · {a['rationale']}"))
    if not trace["approvals"]:
        model.children.append(Node("approval", "approvals: NONE recorded"))
    run = trace["training_run"]
    if run is None:
        model.children.append(Node("run", "training run: not recorded"))
    else:
        node = Node("run", f"training run {run.get('name', '?')} · {run.get('state', 'missing')} · run {run['run_id']} · "
                           f"{run.get('started_at')} · code {run.get('code_ref')}")
        for ds in trace["training_data"]:
            rows = f" ({ds['row_count']} rows)" if ds["row_count"] is not None else ""
            node.children.append(Node("dataset", f"data {ds['name']} {graph.short(ds['fingerprint'], 16)}{rows}"
                                                 + (" · TRAINED ON" if ds["trained_on"] else "")))
        model.children.append(node)
    checks = trace["checks_at_approval"]
    for kind, c in sorted(checks["summary"].items()):
        node = Node("checks", f"checks at approval, {kind}: {c['passed']} passed, {c['failed']} failed, "
                              f"{c['not_judged']} not judged")
        failed = [r for r in checks["results"] if r["kind"] == kind and r["passed"] is False]
        for r in failed[:failures_shown]:
            node.children.append(Node("check", f"FAILED {r['name']} [{r['subject']}]: observed {r['observed']}, "
                                                f"threshold {r['threshold']} ({r['severity']})"))
        if len(failed) > failures_shown:
            node.children.append(Node("note", f"... and {len(failed) - failures_shown} more (--json shows all)"))
        model.children.append(node)
    if not checks["summary"]:
        model.children.append(Node("checks", "checks at approval: none recorded"))
    return draw(root)
