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
import re
import textwrap
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, or_, select

from govflow import canonical as canon
from govflow.errors import InputError
from govflow.governance.ledger.chained import chained
from govflow.governance.ledger.schema import (
    Approval,
    AuditEntry,
    CheckResultRow,
    DatasetVersion,
    Decision,
    Edge,
    ModelVersion,
    Prediction,
    PredictionPayload,
    Purge,
    PurgedPayload,
    Run,
    RunState,
    StageChange,
)
from govflow.governance.lineage import graph
from govflow.governance.trail.decisions import read_decision

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
UNKNOWN_PREDICTION = "no prediction has the id or request id '{given}'"
SEVERAL_PREDICTIONS = ("request id '{given}' names {count} predictions (a batch request); trace one by its "
                       "prediction id: {shown}")


def _ts(moment: datetime | None) -> str | None:
    return None if moment is None else canon.format_ts(moment)


# The statements, built once (building a SQLAlchemy statement costs more than running it here).
def _with_payload(where: Any) -> Any:
    """The prediction with its payload (when not purged) and its audit entry: one indexed query."""
    return (select(*Prediction.__table__.c, PredictionPayload.features_json, PredictionPayload.sensitive_json,
                   PredictionPayload.subject_id, AuditEntry.recorded_at, AuditEntry.entry_hash)
            .outerjoin(PredictionPayload, PredictionPayload.payload_hash == Prediction.payload_hash)
            .outerjoin(AuditEntry, AuditEntry.seq == Prediction.audit_seq).where(where))


_BY_ID = _with_payload(Prediction.id == bindparam("given"))
# No ORDER BY here: with one, PostgreSQL walks the primary key in order (a million rows) rather than
# the request_id index; the few rows found are sorted afterwards.
_BY_REQUEST = _with_payload(Prediction.request_id == bindparam("given")).limit(6)
_COUNT_REQUEST = select(func.count()).select_from(Prediction).where(Prediction.request_id == bindparam("given"))
_PURGE = (select(Purge.kind, Purge.at, Purge.by, Purge.reason).join(PurgedPayload, PurgedPayload.purge_id == Purge.id)
          .where(PurgedPayload.payload_hash == bindparam("payload_hash")).limit(1))
_VERSION = select(ModelVersion.id, ModelVersion.system, ModelVersion.version, ModelVersion.fingerprint,
                  ModelVersion.artifact_hash, ModelVersion.created_at, ModelVersion.training_run_id,
                  ModelVersion.config_snapshot).where(ModelVersion.id == bindparam("mv"))
_STAGES = (select(StageChange.stage, StageChange.at, StageChange.by, StageChange.reason, StageChange.audit_seq)
           .where(StageChange.model_version_id == bindparam("mv"), chained(StageChange)).order_by(StageChange.audit_seq, StageChange.at))
_DECISIONS = (select(Decision.outcome, Decision.reasons_json, Decision.policy_hash, Decision.decided_at, Decision.run_id,
                     Decision.audit_seq).where(Decision.model_version_id == bindparam("mv"), chained(Decision))
              .order_by(Decision.audit_seq))
_APPROVALS = (select(Approval.role, Approval.approver, Approval.os_user, Approval.decision, Approval.rationale,
                     Approval.decided_at, Approval.evidence_hash, Approval.audit_seq)
              .where(Approval.model_version_id == bindparam("mv"), chained(Approval)).order_by(Approval.audit_seq))
_RUN = select(Run.id, Run.name, Run.parent_run_id, Run.started_at, Run.code_ref, Run.prefect_run_id
              ).where(Run.id == bindparam("run"))
_RUN_STATE = (select(RunState.state, RunState.at).where(RunState.run_id == bindparam("run"))
              .order_by(RunState.audit_seq.desc(), RunState.at.desc()).limit(1))
_CHECK_COLUMNS = (CheckResultRow.kind, CheckResultRow.name, CheckResultRow.subject, CheckResultRow.passed,
                  CheckResultRow.observed_json, CheckResultRow.threshold_json, CheckResultRow.severity)
_CHECKS_OF_FLOW = (select(*_CHECK_COLUMNS).join(Run, Run.id == CheckResultRow.run_id)
                   .where(Run.parent_run_id == bindparam("run")).order_by(CheckResultRow.audit_seq, CheckResultRow.id))
_CHECKS_OF_RUN = (select(*_CHECK_COLUMNS).where(CheckResultRow.run_id == bindparam("run"))
                  .order_by(CheckResultRow.audit_seq, CheckResultRow.id))
_CHECKS_OF_VERSION = (select(*_CHECK_COLUMNS).where(CheckResultRow.model_version_id == bindparam("mv"),
                                                    CheckResultRow.audit_seq < bindparam("seq"))
                      .order_by(CheckResultRow.audit_seq, CheckResultRow.id))
_TRAINING_EDGES = (select(Edge.run_id, Edge.direction, Edge.role, Edge.entity_kind, Edge.fingerprint, Run.name)
                   .join(Run, Run.id == Edge.run_id)
                   .where(or_(Run.id == bindparam("run"), Run.parent_run_id == bindparam("run")),
                          Edge.entity_kind.in_(("dataset", "model")))
                   .order_by(Edge.audit_seq, Edge.id))
_DATASETS = select(DatasetVersion.fingerprint, DatasetVersion.name, DatasetVersion.row_count, DatasetVersion.uri,
                   DatasetVersion.schema_json).where(DatasetVersion.fingerprint.in_(bindparam("fps", expanding=True)))


def find_prediction(conn: Connection, given: str) -> dict[str, Any]:
    """The prediction row (with its payload and audit entry) with this id, else the only one with
    this request id."""
    text = given.strip()
    row = conn.execute(_BY_ID, {"given": text}).mappings().first()
    if row is not None:
        return dict(row)
    found = sorted(conn.execute(_BY_REQUEST, {"given": text}).mappings().all(), key=lambda r: r["id"])
    if not found:
        raise InputError(UNKNOWN_PREDICTION.format(given=given))
    if len(found) > 1:
        count = conn.execute(_COUNT_REQUEST, {"given": text}).scalar_one()
        shown = ", ".join(r["id"] for r in found[:5]) + (", ..." if count > 5 else "")
        raise InputError(SEVERAL_PREDICTIONS.format(given=given, count=count, shown=shown))
    return dict(found[0])


def _input(conn: Connection, p: dict[str, Any]) -> dict[str, Any]:
    payload_hash = p["payload_hash"]
    if p["features_json"] is not None:
        return {"features": json.loads(p["features_json"]), "sensitive": json.loads(p["sensitive_json"]),
                "subject_id": p["subject_id"], "payload_hash": payload_hash}
    purge = conn.execute(_PURGE, {"payload_hash": payload_hash}).first()
    if purge is None:
        return {"payload_hash": payload_hash, "missing": "the payload is gone without a purge tombstone (run govflow verify)"}
    return {"payload_hash": payload_hash, "purged": {"kind": purge[0], "at": _ts(purge[1]), "by": purge[2], "reason": purge[3]}}


def _run(conn: Connection, run_id: str) -> dict[str, Any] | None:
    """A run with its current (latest) state: two indexed lookups."""
    run = conn.execute(_RUN, {"run": run_id}).mappings().first()
    if run is None:
        return None
    state = conn.execute(_RUN_STATE, {"run": run_id}).first()
    if state is None:
        return {**run, "state": "running", "ended_at": None}
    return {**run, "state": state[0], "ended_at": state[1] if state[0] != "running" else None}


def _positive_label(config_snapshot: str | None) -> Any:
    data = json.loads(config_snapshot or "{}").get("data")
    return data.get("positive_label") if isinstance(data, dict) else None


def _check(row: Any) -> dict[str, Any]:
    kind, name, subject, passed, observed, threshold, severity = row
    return {"kind": kind, "name": name, "subject": subject, "passed": None if passed is None else bool(passed),
            "observed": json.loads(observed), "threshold": json.loads(threshold), "severity": severity}


def _gate_checks(conn: Connection, decision: Any, mv_id: str) -> list[dict[str, Any]]:
    """The check results of the gate run behind a decision (its flow's tasks), else the version's own."""
    if decision is None:
        return []
    rows: Sequence[Any] = []
    if decision.run_id:
        parent = conn.execute(_RUN, {"run": decision.run_id}).mappings().first()
        if parent is not None and parent["parent_run_id"]:
            rows = conn.execute(_CHECKS_OF_FLOW, {"run": parent["parent_run_id"]}).all()
        else:
            rows = conn.execute(_CHECKS_OF_RUN, {"run": decision.run_id}).all()
    if not rows:
        rows = conn.execute(_CHECKS_OF_VERSION, {"mv": mv_id, "seq": decision.audit_seq}).all()
    return [_check(r) for r in rows]


def _summary(checks: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for c in checks:
        counts = out.setdefault(c["kind"], {"passed": 0, "failed": 0, "not_judged": 0})
        counts["not_judged" if c["passed"] is None else "passed" if c["passed"] else "failed"] += 1
    return out


def _training(conn: Connection, run_id: str | None, model_fp: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The training run, and every data set it or its tasks took or produced (which one fit the model)."""
    if not run_id:
        return None, []
    run = _run(conn, run_id)
    if run is None:
        return {"run_id": run_id, "missing": True}, []
    edges = conn.execute(_TRAINING_EDGES, {"run": run_id}).all()
    fit_runs = {e.run_id for e in edges if e.entity_kind == "model" and e.direction == "output" and e.fingerprint == model_fp}
    fps = sorted({e.fingerprint for e in edges if e.entity_kind == "dataset"})
    known = {d.fingerprint: d for d in conn.execute(_DATASETS, {"fps": fps})} if fps else {}
    data: dict[str, dict[str, Any]] = {}
    for e in edges:
        if e.entity_kind != "dataset":
            continue
        ds = known.get(e.fingerprint)
        item = data.setdefault(e.fingerprint, {
            "fingerprint": e.fingerprint, "name": ds.name if ds else f"{e.name}.{e.role}",
            "row_count": ds.row_count if ds else None, "uri": ds.uri if ds else None,
            "columns": len(json.loads(ds.schema_json)) if ds and ds.schema_json else None,
            "used_by": [], "trained_on": False})
        item["used_by"].append(f"{e.name} ({e.direction} {e.role})")
        if e.direction == "input" and e.run_id in fit_runs:
            item["trained_on"] = True
    return ({"run_id": run["id"], "name": run["name"], "state": run["state"], "started_at": _ts(run["started_at"]),
             "ended_at": _ts(run["ended_at"]), "code_ref": run["code_ref"], "prefect_run_id": run["prefect_run_id"]},
            list(data.values()))


def trace_prediction(conn: Connection, given: str) -> dict[str, Any]:
    """The whole trace of one prediction, as JSON-safe data (see the module docstring)."""
    p = find_prediction(conn, given)
    mv = conn.execute(_VERSION, {"mv": p["model_version_id"]}).one()
    stages = conn.execute(_STAGES, {"mv": mv.id}).all()
    when_served = [s for s in stages if s.at <= p["served_at"]]
    stage_then = when_served[-1].stage if when_served else None
    promotions = [s for s in when_served if s.stage == "production"] or [s for s in stages if s.stage == "production"]
    promoted_seq = promotions[-1].audit_seq if promotions else None
    in_force = [d for d in conn.execute(_DECISIONS, {"mv": mv.id}) if promoted_seq is None or d.audit_seq < promoted_seq]
    decision = in_force[-1] if in_force else None
    approvals: dict[str, Any] = {}
    for a in conn.execute(_APPROVALS, {"mv": mv.id}):
        if promoted_seq is None or a.audit_seq < promoted_seq:
            approvals[a.role] = a  # the latest per role before the promotion
    checks = _gate_checks(conn, decision, mv.id)
    training_run, training_data = _training(conn, mv.training_run_id, mv.fingerprint)
    scoring = _run(conn, p["request_id"]) if _UUID.fullmatch(p["request_id"]) else None  # a batch flow's run id
    return {
        "prediction": {
            "id": p["id"], "request_id": p["request_id"], "system": p["system"], "served_at": _ts(p["served_at"]),
            "caller": p["caller"], "latency_ms": p["latency_ms"], "output": json.loads(p["output_json"]),
            "decision": read_decision(json.loads(p["output_json"]), _positive_label(mv.config_snapshot)),
            "input": _input(conn, p),
            "scoring_run": None if scoring is None else {"run_id": scoring["id"], "name": scoring["name"],
                                                         "state": scoring["state"]},
            "audit_entry": {"seq": p["audit_seq"], "recorded_at": p["recorded_at"], "entry_hash": p["entry_hash"]},
        },
        "model_version": {
            "ref": f"{mv.system}:{mv.version}", "id": mv.id, "fingerprint": mv.fingerprint,
            "artifact_hash": mv.artifact_hash, "created_at": _ts(mv.created_at),
            "stage_when_served": stage_then, "in_production_when_served": stage_then == "production",
            "stage_now": stages[-1].stage if stages else None,
            "stages": [{"stage": s.stage, "at": _ts(s.at), "by": s.by, "reason": s.reason} for s in stages],
        },
        "gate_decision": None if decision is None else {
            "outcome": decision.outcome, "reasons": json.loads(decision.reasons_json),
            "policy_hash": decision.policy_hash, "decided_at": _ts(decision.decided_at), "run_id": decision.run_id},
        "approvals": [{"role": a.role, "approver": a.approver, "os_user": a.os_user, "decision": a.decision,
                       "rationale": a.rationale, "decided_at": _ts(a.decided_at), "evidence_hash": a.evidence_hash}
                      for a in approvals.values()],
        "training_run": training_run,
        "training_data": training_data,
        "checks_at_approval": {"summary": _summary(checks), "results": checks},
    }


def rounded(value: Any, digits: int = 3) -> Any:
    """``value`` with every float rounded for people (0.5993998499624906 -> 0.599)."""
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v, digits) for v in value]
    return value


def render(trace: dict[str, Any], *, failures_shown: int = 10) -> str:
    """The trace as an indented tree (the JSON form has every check result)."""
    from govflow.governance.lineage.trace import Node
    from govflow.governance.lineage.trace import render as draw

    p, mv = trace["prediction"], trace["model_version"]
    entry = p["audit_entry"]
    root = Node("prediction", f"prediction {p['id']} · {p['system']} · {p['served_at']} · caller {p['caller']}")
    root.children.append(Node("request", f"request {p['request_id']} · latency {p['latency_ms']:.2f} ms · recorded in "
                                         f"audit entry {entry['seq']} ({(entry['entry_hash'] or '-')[:16]}...)"))
    if p.get("scoring_run"):
        sr = p["scoring_run"]
        root.children.append(Node("run", f"scored by the {sr['name']} flow run {sr['run_id']} ({sr['state']})"))
    if p.get("decision"):
        d = p["decision"]
        said = ("favourable" if d["favourable"] else "unfavourable") + (", drawn at random from the score (a mitigated "
                                                                          "model)" if d.get("randomised") else "")
        root.children.append(Node("served", f"served decision: {d['decision']} ({said})"))
    root.children.append(Node("output", "output: " + textwrap.shorten(json.dumps(rounded(p["output"]), sort_keys=True,
                                                                              ensure_ascii=False), 200, placeholder=" ...")))
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
    shown = Node("input", label)
    if "features" in given:  # the values themselves, numbers rounded (the JSON form has them exact)
        shown.children += [Node("feature", f"{name} = {json.dumps(rounded(value), ensure_ascii=False)}")
                           for name, value in given["features"].items()]
        shown.children += [Node("feature", f"{name} = {json.dumps(rounded(value), ensure_ascii=False)} (sensitive)")
                           for name, value in given["sensitive"].items()]
    root.children.append(shown)
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
                                               f"{d['policy_hash'][:12]} · {textwrap.shorten(reasons, 200, placeholder=' ...')}"))
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
