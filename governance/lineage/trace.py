"""`govflow trace`: the lineage around a model version, a data set or a run, as a tree.

Upstream means "where it came from": the run that produced a piece of content, what that run took,
and so on back to the raw files. Downstream means "where it went": the runs that took it, what they
produced, and so on. A flow's own edges repeat its tasks' (a flow returns what its last task
produced), so when a flow and one of its tasks both touch the same content only the task is shown.
Content already expanded elsewhere in the tree is marked and not expanded again.

`Node` trees render as indented text (`render`) or JSON (`Node.to_dict`).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection, func, select

from govflow import canonical as canon
from govflow.governance.ledger.chained import chained
from govflow.governance.ledger.schema import (
    Approval,
    Artifact,
    CheckResultRow,
    Decision,
    ModelVersion,
    Prediction,
    StageChange,
)
from govflow.governance.lineage import graph
from govflow.governance.lineage.graph import LINEAGE_KINDS, EdgeView, Entity, RunView, short
from govflow.governance.registry.gate_runs import CRASHED, why_not_counted
from govflow.governance.registry.versions import VersionRef


@dataclass
class Node:
    """One line of a trace: its kind, a human label, its facts, and what hangs below it."""

    type: str
    label: str
    data: dict[str, Any] = field(default_factory=dict)
    children: list[Node] = field(default_factory=list)
    text_only: bool = False  # a line for reading whose facts are already in the parent's data

    def to_dict(self) -> dict[str, Any]:
        out = {"type": self.type, **self.data}
        children = [c.to_dict() for c in self.children if not c.text_only]
        if children:
            out["children"] = children
        return out


def render(root: Node) -> str:
    """The tree as indented text."""
    lines = [root.label]

    def walk(node: Node, prefix: str) -> None:
        for i, child in enumerate(node.children):
            last = i == len(node.children) - 1
            lines.append(f"{prefix}{'└─ ' if last else '├─ '}{child.label}")
            walk(child, prefix + ("   " if last else "│  "))

    walk(root, "")
    return "\n".join(lines)


def _ts(moment: datetime | None) -> str | None:
    return None if moment is None else canon.format_ts(moment)


def _num(value: Any) -> str:
    """A figure for reading (JSON output keeps the exact value)."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%SZ")


class Tracer:
    """Builds trace trees over one connection. ``depth`` bounds each walk, ``limit`` the fan-out."""

    def __init__(self, conn: Connection, *, depth: int = 10, limit: int = 25) -> None:
        self.conn = conn
        self.depth = depth
        self.limit = limit
        self.expanded: set[str] = set()

    # -- nodes ---------------------------------------------------------------------------------

    def run_node(self, run: RunView) -> Node:
        data = {
            "run_id": run.id, "kind": run.kind, "name": run.name, "state": run.state,
            "started_at": _ts(run.started_at), "ended_at": _ts(run.ended_at), "attempt": run.attempt,
            "prefect_run_id": run.prefect_run_id, "parent_run_id": run.parent_run_id,
            "root_run_id": run.root_run_id, "code_ref": run.code_ref,
            "error_type": run.error_type, "error_message": run.error_message,
        }
        # A flow writes its final state when it ends; none (only "running") after its process died.
        state = run.state if run.state != "running" else f"{run.state} or {CRASHED}"
        label = f"{run.kind} {run.name} · {state} · run {short(run.id, 13)} · {_when(run.started_at)}"
        if run.attempt > 1:
            label += f" · attempt {run.attempt}"
        if run.error_type:
            first_line = (run.error_message or "").strip().splitlines()[:1]
            label += f" · {run.error_type}: {first_line[0][:160] if first_line else ''}"
        return Node("run", label, data)

    def entity_node(self, fp: str, ent: Entity | None, role: str | None = None) -> Node:
        kind = ent.kind if ent else "value"
        name = ent.name if ent else fp
        data: dict[str, Any] = {"fingerprint": fp, "kind": kind, "name": name}
        label = f"{kind} {name} {short(fp, 12)}"
        if role:
            data["role"] = role
            label = f"{role}: {label}"
        if ent and ent.row_count is not None:
            data["row_count"] = ent.row_count
            label += f" ({ent.row_count} rows" + (f" × {len(ent.schema)} columns)" if ent.schema else ")")
        if ent and ent.schema is not None:
            data["columns"] = ent.schema
        if ent and ent.model_versions:
            data["model_versions"] = list(ent.model_versions)
            label += f" (registered as {', '.join(ent.model_versions)})"
        return Node(kind, label, data)

    @staticmethod
    def check_data(row: dict[str, Any]) -> dict[str, Any]:
        return {"kind": row["kind"], "name": row["name"], "subject": row["subject"],
                "passed": None if row["passed"] is None else bool(row["passed"]),
                "observed": json.loads(row["observed_json"]), "threshold": json.loads(row["threshold_json"]),
                "severity": row["severity"], "run_id": row["run_id"]}

    def checks_node(self, rows: list[dict[str, Any]]) -> Node:
        """A summary line; below it (as text) the results that failed or could not be judged.

        The JSON form holds every result under ``results``.
        """
        results = [self.check_data(r) for r in rows]
        passed = sum(r["passed"] is True for r in results)
        failed = sum(r["passed"] is False for r in results)
        label = f"checks: {len(rows)} ({passed} passed, {failed} failed, {len(rows) - passed - failed} not judged)"
        node = Node("checks", label, {"total": len(rows), "passed": passed, "failed": failed, "results": results})
        for r in results:
            if r["passed"] is False or (r["passed"] is None and r["severity"] != "info"):
                verdict = "FAILED" if r["passed"] is False else "not judged"
                node.children.append(Node(
                    "check", f"{verdict}: {r['kind']} {r['name']} [{r['subject']}] observed {_num(r['observed'])}, "
                    f"threshold {_num(r['threshold'])} ({r['severity']})", r, text_only=True))
        return node

    # -- walks ---------------------------------------------------------------------------------

    def _runs_touching(self, fp: str, direction: str, exclude: set[str] | None = None) -> list[RunView]:
        """Runs with an edge to this content, oldest first; a flow is left out where one of its
        own steps has the same edge (a flow returns what its last step produced)."""
        ids = [e.run_id for e in graph.edges_of_content(self.conn, [fp], direction) if e.run_id not in (exclude or ())]
        views = graph.runs(self.conn, ids)
        ordered = sorted((views[i] for i in dict.fromkeys(ids) if i in views), key=lambda v: (v.started_at, v.id))
        nested_under = {v.parent_run_id for v in ordered}
        return [v for v in ordered if not (v.kind == "flow" and v.id in nested_under)]

    def _lineage_edges(self, run_id: str, direction: str) -> list[EdgeView]:
        edges = [e for e in graph.edges_of_runs(self.conn, [run_id])
                 if e.direction == direction and e.kind in LINEAGE_KINDS]
        return list({e.fingerprint: e for e in reversed(edges)}.values())[::-1]

    def upstream(self, fp: str, depth: int, before: datetime | None = None) -> list[Node]:
        """The run that produced this content (the last one before ``before``), and what it took."""
        producers = self._runs_touching(fp, "output")
        earlier = [p for p in producers if before is None or p.started_at <= before]
        if not earlier:
            return [Node("note", "not produced by any recorded run (an original input)", {"original": True})]
        chosen = earlier[-1] if before is not None else earlier[0]
        others = [p for p in producers if p.id != chosen.id]
        node = self.run_node(chosen)
        node.label = "produced by " + node.label
        checks = graph.checks_of_runs(self.conn, [chosen.id]).get(chosen.id, [])
        if checks:
            node.children.append(self.checks_node(checks))
        inputs = self._lineage_edges(chosen.id, "input")
        ents = graph.entities(self.conn, [e.fingerprint for e in inputs])
        for edge in inputs:
            child = self.entity_node(edge.fingerprint, ents.get(edge.fingerprint), edge.role)
            child.children = self.checked_by(edge.fingerprint, exclude={chosen.id})
            child.children += self._expand(child, f"up:{edge.fingerprint}", depth - 1,
                                           partial(self._upstream_of, edge.fingerprint, chosen.started_at))
            node.children.append(child)
        out = [node]
        if others:
            out.append(Node("note", f"the same content was also produced by {len(others)} other run(s): "
                            + ", ".join(short(o.id, 13) for o in others[:5]) + (", ..." if len(others) > 5 else ""),
                            {"also_produced_by": [o.id for o in others]}))
        return out

    def checked_by(self, fp: str, exclude: set[str]) -> list[Node]:
        """The runs that took this content and recorded check results: the evidence about it."""
        consumers = self._runs_touching(fp, "input", exclude)
        checks = graph.checks_of_runs(self.conn, [r.id for r in consumers])
        out = []
        for run in consumers:
            if run.id in checks and f"checked:{fp}:{run.id}" not in self.expanded:
                self.expanded.add(f"checked:{fp}:{run.id}")
                node = self.run_node(run)
                node.label = "checked by " + node.label
                node.children.append(self.checks_node(checks[run.id]))
                out.append(node)
        return out

    def downstream(self, fp: str, depth: int, after: datetime | None = None,
                   exclude: set[str] | None = None) -> list[Node]:
        """The runs that took this content (from ``after`` on), and recursively what they produced."""
        consumers = [r for r in self._runs_touching(fp, "input", exclude) if after is None or r.started_at >= after]
        out: list[Node] = []
        for run in consumers[: self.limit]:
            node = self.run_node(run)
            node.label = "used by " + node.label
            checks = graph.checks_of_runs(self.conn, [run.id]).get(run.id, [])
            if checks:
                node.children.append(self.checks_node(checks))
            outputs = self._lineage_edges(run.id, "output")
            ents = graph.entities(self.conn, [e.fingerprint for e in outputs])
            for edge in outputs:
                child = self.entity_node(edge.fingerprint, ents.get(edge.fingerprint), "produced")
                child.children = self._expand(child, f"down:{edge.fingerprint}", depth - 1,
                                              partial(self._downstream_of, edge.fingerprint, run.started_at))
                node.children.append(child)
            out.append(node)
        if len(consumers) > self.limit:
            out.append(Node("note", f"... and {len(consumers) - self.limit} more run(s) (raise --limit to see them)",
                            {"more": len(consumers) - self.limit}))
        return out

    def _upstream_of(self, fp: str, before: datetime, depth: int) -> list[Node]:
        return self.upstream(fp, depth, before)

    def _downstream_of(self, fp: str, after: datetime, depth: int, exclude: set[str] | None = None) -> list[Node]:
        return self.downstream(fp, depth, after, exclude)

    def _expand(self, node: Node, key: str, depth: int, walk: Callable[[int], list[Node]]) -> list[Node]:
        """``walk(depth)`` unless this content was expanded already (or the depth is spent)."""
        if key in self.expanded:
            node.label += " (shown above)"
            return []
        if depth <= 0:
            node.label += " (depth limit)"
            return []
        self.expanded.add(key)
        return walk(depth)

    # -- the three traces ----------------------------------------------------------------------

    def trace_entity(self, fp: str) -> Node:
        ent = graph.entities(self.conn, [fp]).get(fp)
        root = self.entity_node(fp, ent)
        self.expanded |= {f"up:{fp}", f"down:{fp}"}
        root.children = [Node("upstream", "upstream (where it came from)", {}, self.upstream(fp, self.depth)),
                         Node("downstream", "downstream (where it went)", {}, self.downstream(fp, self.depth))]
        return root

    def trace_run(self, run_id: str) -> Node:
        """A run with its flow, its steps and checks; what it took (from outside) and what it
        produced, with where that went afterwards (outside the run)."""
        run = graph.runs(self.conn, [run_id])[run_id]
        root = self.run_node(run)
        parent_id = run.parent_run_id
        while parent_id:
            parent = graph.runs(self.conn, [parent_id]).get(parent_id)
            if parent is None:
                break
            node = self.run_node(parent)
            node.label = "inside " + node.label
            root.children.append(node)
            parent_id = parent.parent_run_id
        if run.params:
            root.children.append(Node("params", "params: " + canon.canonical(run.params).decode()[:300],
                                      {"params": run.params}))
        scope = graph.descendants(self.conn, run_id)
        steps = graph.runs(self.conn, graph.children(self.conn, run_id))
        if steps:
            root.children.append(Node("steps", f"steps: {len(steps)}", {},
                                      [self.run_node(v) for v in sorted(steps.values(), key=lambda v: v.id)]))
        checks = [c for rows in graph.checks_of_runs(self.conn, scope).values() for c in rows]
        if checks:
            root.children.append(self.checks_node(checks))
        edges = [e for e in graph.edges_of_runs(self.conn, scope) if e.kind in LINEAGE_KINDS]
        produced = {e.fingerprint for e in edges if e.direction == "output"}
        taken = [e for e in edges if e.direction == "input" and e.fingerprint not in produced]
        made = [e for e in edges if e.direction == "output"]
        taken = list({e.fingerprint: e for e in reversed(taken)}.values())[::-1]
        made = list({e.fingerprint: e for e in reversed(made)}.values())[::-1]
        ents = graph.entities(self.conn, [e.fingerprint for e in taken + made])
        up = Node("upstream", "upstream (what it took)")
        for edge in taken:
            child = self.entity_node(edge.fingerprint, ents.get(edge.fingerprint), edge.role)
            child.children = self._expand(child, f"up:{edge.fingerprint}", self.depth,
                                          partial(self._upstream_of, edge.fingerprint, run.started_at))
            up.children.append(child)
        down = Node("downstream", "downstream (what it produced, and where that went afterwards)")
        for edge in made:
            child = self.entity_node(edge.fingerprint, ents.get(edge.fingerprint), edge.role)
            child.children = self._expand(child, f"down:{edge.fingerprint}", self.depth, partial(
                self._downstream_of, edge.fingerprint, run.started_at, exclude=set(scope)))
            down.children.append(child)
        for section, empty in ((up, "nothing but plain parameters"), (down, "nothing recorded")):
            if not section.children:
                section.children.append(Node("note", empty, {}))
        root.children += [up, down]
        return root

    def trace_model(self, model_version_id: str) -> Node:
        mv = self.conn.execute(select(ModelVersion).where(ModelVersion.id == model_version_id)).mappings().one()
        stages = self.conn.execute(select(StageChange).where(StageChange.model_version_id == model_version_id, chained(StageChange))
                                   .order_by(StageChange.audit_seq)).mappings().all()
        stage = stages[-1]["stage"] if stages else None
        root = Node("model", f"model {mv['system']}:{mv['version']} · {stage or 'no stage'} · {short(mv['fingerprint'], 12)}",
                    {"system": mv["system"], "version": mv["version"], "model_version_id": mv["id"],
                     "fingerprint": mv["fingerprint"], "stage": stage, "artifact_hash": mv["artifact_hash"],
                     "training_run_id": mv["training_run_id"], "created_at": _ts(mv["created_at"])})
        training = graph.runs(self.conn, [mv["training_run_id"]]).get(mv["training_run_id"] or "")
        if training is not None:
            node = self.run_node(training)
            outside = training.name == "register"  # `govflow register`: fitted outside govflow
            node.label = ("registered (trained outside govflow) in " if outside else "trained in ") + node.label
            root.children.append(node)
        factory = json.loads(mv["hyperparams_json"] or "{}").get("factory")
        if isinstance(factory, dict):  # the team's own code that built the model (model.factory)
            root.children.append(Node("factory", f"built by factory {factory.get('spec')} · "
                                      f"{factory.get('module_version')} · source sha256:"
                                      f"{str(factory.get('source_hash') or 'unavailable')[:12]}", dict(factory)))
        if stages:
            root.children.append(Node("stages", "stages: " + " → ".join(s["stage"] for s in stages), {}, [
                Node("stage", f"{s['stage']} · {_when(s['at'])} · by {s['by']} · {s['reason']}",
                     {"stage": s["stage"], "at": _ts(s["at"]), "by": s["by"], "reason": s["reason"]}) for s in stages]))
        decisions = self.conn.execute(select(Decision).where(Decision.model_version_id == model_version_id, chained(Decision))
                                      .order_by(Decision.audit_seq)).mappings().all()
        for d in decisions:
            reasons = json.loads(d["reasons_json"])
            standing = why_not_counted(self.conn, VersionRef(mv["id"], mv["system"], mv["version"]), d) \
                if d is decisions[-1] else None
            root.children.append(Node("decision", f"gate {d['outcome']} · {_when(d['decided_at'])} · policy "
                                      f"{d['policy_hash'][:12]}" + (f" · does not count: {standing}" if standing else "")
                                      + (f" · {textwrap.shorten('; '.join(map(str, reasons)), 200, placeholder=' ...')}"
                                         if reasons else ""),
                                      {"outcome": d["outcome"], "reasons": reasons, "policy_hash": d["policy_hash"],
                                       "run_id": d["run_id"], "decided_at": _ts(d["decided_at"])}
                                      | ({"does_not_count": standing} if standing else {})))
        for a in self.conn.execute(select(Approval).where(Approval.model_version_id == model_version_id, chained(Approval))
                                   .order_by(Approval.audit_seq)).mappings():
            root.children.append(Node("approval", f"{a['decision']} by {a['approver']} ({a['role']}, OS user "
                                      f"{a['os_user']}) · {_when(a['decided_at'])} · {a['rationale']}",
                                      {k: a[k] for k in ("role", "approver", "os_user", "decision", "rationale",
                                                         "evidence_hash")} | {"decided_at": _ts(a["decided_at"])}))
        checks = [dict(r) for r in self.conn.execute(
            select(CheckResultRow).where(CheckResultRow.model_version_id == model_version_id)
            .order_by(CheckResultRow.audit_seq, CheckResultRow.id)).mappings()]
        if checks:
            root.children.append(self.checks_node(checks))
        docs = self.conn.execute(select(Artifact).where(Artifact.model_version_id == model_version_id)
                                 .order_by(Artifact.audit_seq)).mappings().all()
        if docs:
            root.children.append(Node("documents", f"documents and files: {len(docs)}", {}, [
                Node("document", f"{d['kind']} {d['name']} sha256:{d['content_hash'][:12]}",
                     {"kind": d["kind"], "name": d["name"], "content_hash": d["content_hash"], "uri": d["uri"]})
                for d in docs]))
        fp = mv["fingerprint"]
        self.expanded |= {f"up:{fp}", f"down:{fp}"}
        up = self.upstream(fp, self.depth)
        if up and up[0].type == "note" and mv["training_run_id"]:
            up = [self.trace_run(mv["training_run_id"])]
        root.children.append(Node("upstream", "upstream (how it was made)", {}, up))
        down = self.downstream(fp, self.depth)
        count, first, last = self.conn.execute(
            select(func.count(), func.min(Prediction.served_at), func.max(Prediction.served_at))
            .where(Prediction.model_version_id == model_version_id)).one()
        if count:
            down.append(Node("predictions", f"predictions: {count} served ({_when(first)} .. {_when(last)})",
                             {"count": count, "first": _ts(first), "last": _ts(last)}))
        root.children.append(Node("downstream", "downstream (where it was used)", {}, down))
        return root
