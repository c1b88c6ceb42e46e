"""Evidence for the generated documents: what the ledger records about one model version.

`gather` only reads. It collects, in one read transaction, the version row and the config in force,
the training flow run with its tasks, the data sets those runs read and wrote, every check result
(training time, the latest gate run, later monitoring), the gate decisions, the approvals, the stage
history and the chain head. The documents (`govflow.governance.reports.documents`) are pure functions of the
returned `Evidence`: nothing in them is read from anywhere else, and nothing is made up.

Every fact keeps the id of the row it came from, so a document can cite ``table/id``. The clock is
passed in, so the same ledger renders the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, or_, select

from govflow import canonical as canon
from govflow.errors import InputError
from govflow.governance.ledger.chained import chained
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import (
    Approval,
    Artifact,
    AuditEntry,
    CheckResultRow,
    DatasetVersion,
    Decision,
    Edge,
    ModelVersion,
    Run,
    RunState,
    StageChange,
)
from govflow.governance.registry.policies import applied_and_previous
from govflow.governance.reports.evidence_facts import (
    DATASET_ROLES,
    DEFAULT_REQUIRED_ROLES,
    GROUP_TABLE_KIND,
    PHASE_EARLIER_GATE,
    PHASE_GATE,
    PHASE_TRAINING,
    STORED_COPY_KINDS,
    UNKNOWN_VERSION,
    ApprovalFacts,
    ArtifactFacts,
    ChainHead,
    CheckFact,
    DatasetFacts,
    DatasetUse,
    DecisionFacts,
    Evidence,
    Ref,
    RunFacts,
    SiblingVersion,
    StageFacts,
    TaskFacts,
    VersionFacts,
)
from govflow.governance.reports.evidence_statistics import with_statistics

__all__ = [  # the facts are re-exported: callers import everything about evidence from here
    "DATASET_ROLES", "DEFAULT_REQUIRED_ROLES", "GROUP_TABLE_KIND", "PHASE_EARLIER_GATE", "PHASE_GATE",
    "PHASE_TRAINING", "STORED_COPY_KINDS", "UNKNOWN_VERSION", "ApprovalFacts", "ArtifactFacts", "ChainHead",
    "CheckFact", "DatasetFacts", "DatasetUse", "DecisionFacts", "Evidence", "Ref", "RunFacts", "SiblingVersion",
    "StageFacts", "TaskFacts", "VersionFacts", "effective_policy", "gather", "required_roles",
]


def _json(text: str | None, default: Any = None) -> Any:
    if text is None or text == "":
        return default
    try:
        return json.loads(text)
    except ValueError:
        return text


def required_roles(policy: Mapping[str, Any]) -> tuple[str, ...]:
    """The roles the policy requires to approve; the default pair when the policy names none."""
    if "approvals" not in policy or policy["approvals"] is None:
        return DEFAULT_REQUIRED_ROLES
    return tuple(str(r.get("role") if isinstance(r, Mapping) else r) for r in policy["approvals"])


def effective_policy(policy: Mapping[str, Any]) -> tuple[Mapping[str, Any], str | None]:
    """The policy with every default filled in, and its hash; the policy as written if it is invalid."""
    from govflow.checks.policy import Policy
    from govflow.errors import ConfigError

    try:
        found = Policy.from_mapping(policy)
    except ConfigError:
        return policy, None
    return found.to_dict(), found.hash()


def _group_rows(data: Any) -> tuple[Mapping[str, Any], ...]:
    if isinstance(data, Mapping):
        data = data.get("by_group", (data.get("tables") or {}).get("by_group"))
    return tuple(r for r in data if isinstance(r, Mapping)) if isinstance(data, list) else ()


def _run_tree(conn: Connection, root_id: str) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(
        select(Run).where(or_(Run.id == root_id, Run.root_run_id == root_id))
        .order_by(Run.audit_seq, Run.started_at, Run.name)
    ).mappings()]


def _states(conn: Connection, run_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    ids = sorted(set(run_ids))
    if ids:
        for row in conn.execute(select(RunState).where(RunState.run_id.in_(ids))
                                .order_by(RunState.audit_seq, RunState.at)).mappings():
            found.setdefault(row["run_id"], []).append(dict(row))
    return found


def _end(states: list[dict[str, Any]]) -> tuple[str | None, datetime | None, str | None]:
    if not states:
        return None, None, None
    last = states[-1]
    ended = last["at"] if last["state"] != "running" else None
    error = f"{last['error_type']}: {last['error_message']}" if last.get("error_type") else None
    return last["state"], ended, error


def _run_facts(tree: list[dict[str, Any]], root_id: str, states: dict[str, list[dict[str, Any]]]) -> RunFacts | None:
    root = next((r for r in tree if r["id"] == root_id), None)
    if root is None:
        return None
    tasks = []
    for row in tree:
        if row["id"] != root_id:
            state, ended, error = _end(states.get(row["id"], []))
            tasks.append(TaskFacts(row["id"], row["name"], state, row["started_at"], ended, error))
    state, ended, _ = _end(states.get(root_id, []))
    return RunFacts(
        id=root["id"], name=root["name"], code_ref=root["code_ref"], source_hash=root["source_hash"],
        env=dict(sorted((_json(root["env_json"], {}) or {}).items())), params=_json(root["params_json"], {}) or {},
        config_hash=root["config_hash"], started_at=root["started_at"], ended_at=ended, state=state,
        tasks=tuple(tasks),
    )


def _dataset_role(name: str, edges: list[dict[str, Any]]) -> str:
    """Which part a data set played, from the task that wrote or read it, else from its name.

    The one place that maps the training flow's task names and edge roles to data set roles.
    """
    for edge in edges:
        task, role, direction = edge["task"], edge["role"].lower(), edge["direction"]
        if task in ("split_data", "load_given_data") and direction == "output":  # trained, or registered
            if role.endswith("[0]") or "train" in role:
                return "train"
            if role.endswith("[1]") or "test" in role or "hold" in role:
                return "held-out"
        if task == "load_data" and direction == "output":
            return "source"
    lowered = name.lower()
    if "held-out" in lowered or "holdout" in lowered or "test split" in lowered:
        return "held-out"
    if "train split" in lowered:
        return "train"
    for edge in edges:
        if edge["direction"] == "input" and edge["task"] == "fit_model":
            return "train"
        if edge["direction"] == "input" and edge["task"] in ("evaluate_model", "evaluate"):
            return "held-out"
    return "input"


def gather(ledger: Ledger, model_version_id: str, *, clock: Callable[[], datetime] = canon.utc_now) -> Evidence:
    """Read every record about a model version into an `Evidence`, in one read transaction (no writes).

    Stored files are read from the artifact store for the by-group table (see `GROUP_TABLE_KIND`) and the
    stored data splits, whose statistics the datasheets show (`evidence_statistics`).
    """
    with ledger.read() as conn, conn.begin():
        evidence = _Reader(conn).evidence(model_version_id, clock())
    evidence = with_statistics(evidence, lambda h: None if ledger.artifacts.problem(h) else ledger.artifacts.read(h))
    table = next((a for a in reversed(evidence.artifacts) if a.kind == GROUP_TABLE_KIND), None)
    if table is None or ledger.artifacts.problem(table.content_hash):  # missing or altered: `verify` reports it
        return evidence
    rows = _group_rows(_json(ledger.artifacts.read(table.content_hash).decode("utf-8")))
    return replace(evidence, group_table=rows, group_table_ref=table)


class _Reader:
    """One gathering: the rows read so far, and where each run sits (its root flow, its phase)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.runs: dict[str, dict[str, Any]] = {}
        self.training_root: str | None = None
        self.gate_root: str | None = None

    def root_of(self, run_id: str | None) -> str | None:
        run = self.runs.get(run_id or "")
        return None if run is None else (run["root_run_id"] or run["id"])

    def phase_of(self, run_id: str | None) -> str:
        root = self.root_of(run_id)
        if root is not None and root == self.training_root:
            return PHASE_TRAINING
        if root is not None and root == self.gate_root:
            return PHASE_GATE
        name = self.runs[root]["name"] if root in self.runs else "unknown"
        return PHASE_EARLIER_GATE if name == "gate" else name

    def task(self, run_id: str) -> str:
        return str(self.runs[run_id]["name"]) if run_id in self.runs else "unknown"

    def started(self, run_id: str) -> str:
        return canon.format_ts(self.runs[run_id]["started_at"]) if run_id in self.runs else ""

    def _load(self, ids: Iterable[str]) -> None:
        missing = sorted(set(ids) - set(self.runs))
        if missing:
            self.runs.update({r["id"]: dict(r) for r in self.conn.execute(select(Run).where(Run.id.in_(missing))).mappings()})

    def evidence(self, mv_id: str, generated_at: datetime) -> Evidence:
        conn = self.conn
        mv = conn.execute(select(ModelVersion).where(ModelVersion.id == mv_id)).mappings().first()
        if mv is None:
            raise InputError(UNKNOWN_VERSION.format(id=mv_id))
        config = _json(mv["config_snapshot"], {}) or {}
        decisions = tuple(DecisionFacts(d["id"], d["outcome"], tuple(map(str, _json(d["reasons_json"], []) or [])),
                                        d["policy_hash"], d["decided_at"], d["run_id"]) for d in conn.execute(
            select(Decision).where(Decision.model_version_id == mv_id, chained(Decision)).order_by(Decision.audit_seq)).mappings())
        linked = [dict(r) for r in conn.execute(
            select(CheckResultRow).where(CheckResultRow.model_version_id == mv_id)).mappings()]
        tree, gate_tree = self._trees(mv["training_run_id"], decisions, linked)
        tree_ids = sorted({r["id"] for r in tree} | {r["id"] for r in gate_tree})
        edges = self._edges(tree_ids, {r["run_id"] for r in linked})
        checks = self._checks(tree_ids, linked, edges)
        artifacts = tuple(ArtifactFacts(a["id"], a["kind"], a["name"], a["content_hash"], a["media_type"],
                                        a["created_at"]) for a in conn.execute(
            select(Artifact).where(Artifact.model_version_id == mv_id)
            .order_by(Artifact.audit_seq, Artifact.kind, Artifact.name)).mappings())
        in_trees = set(tree_ids)  # the data of the version's making; monitoring windows are not documented here
        datasets = self._datasets([e for e in edges if e["run_id"] in in_trees], checks, config, artifacts)
        approvals = tuple(ApprovalFacts(a["id"], a["role"], a["approver"], a["os_user"], a["decision"], a["rationale"],
                                        a["evidence_hash"], a["decided_at"]) for a in conn.execute(
            select(Approval).where(Approval.model_version_id == mv_id, chained(Approval)).order_by(Approval.audit_seq)).mappings())
        states = _states(conn, tree_ids)
        head = conn.execute(select(AuditEntry.seq, AuditEntry.entry_hash).order_by(AuditEntry.seq.desc()).limit(1)).one()
        ledger_id = conn.execute(select(AuditEntry.subject).where(AuditEntry.seq == 1)).scalar() or ""
        applied, previous = applied_and_previous(conn, mv["system"], f"{mv['system']}:{mv['version']}",
                                                 decisions[-1].id if decisions else None)
        policy, policy_hash = effective_policy(config.get("policy") or {})
        if applied is not None and applied.content is not None and effective_policy(applied.content)[1] == applied.policy_hash:
            policy, policy_hash = effective_policy(applied.content)  # what the gate applied, not the training config
        return Evidence(
            version=VersionFacts(
                id=mv["id"], system=mv["system"], version=mv["version"], fingerprint=mv["fingerprint"],
                artifact_hash=mv["artifact_hash"], artifact_uri=mv["artifact_uri"],
                training_run_id=mv["training_run_id"], config_hash=canon.hash_value(config), created_at=mv["created_at"],
                hyperparams=dict(sorted((_json(mv["hyperparams_json"], {}) or {}).items())),
            ),
            config=config,
            training_run=_run_facts(tree, self.training_root, states) if self.training_root else None,
            gate_run=_run_facts(gate_tree, self.gate_root, states) if self.gate_root else None,
            datasets=datasets, checks=checks, decisions=decisions, approvals=approvals,
            stages=_stages(conn, [mv_id]).get(mv_id, ()), required_roles=required_roles(config.get("policy") or {}),
            artifacts=artifacts, versions=_versions(conn, mv["system"]), chain_head=ChainHead(int(head[0]), str(head[1])),
            ledger_id=str(ledger_id).removeprefix("ledger "), generated_at=generated_at,
            policy_in_force=policy, policy_hash=policy_hash, applied_policy=applied, previous_policy=previous,
        )

    def _trees(self, training_root: str | None, decisions: tuple[DecisionFacts, ...],
               linked: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The training flow's runs, and those of the gate run in force: the latest decision's, else the latest."""
        self.training_root = training_root
        tree = _run_tree(self.conn, training_root) if training_root else []
        self.runs.update({r["id"]: r for r in tree})
        self._load({r["run_id"] for r in linked} | {d.run_id for d in decisions if d.run_id})
        roots = {r for r in (self.root_of(row["run_id"]) for row in linked) if r is not None}
        self._load(roots)
        gate_root = self.root_of(decisions[-1].run_id) if decisions else None
        if gate_root is None:
            gates = [r for r in roots if r in self.runs and self.runs[r]["name"] == "gate"]
            gate_root = max(gates, key=lambda r: self.runs[r]["audit_seq"], default=None)
        self.gate_root = gate_root
        gate_tree = _run_tree(self.conn, gate_root) if gate_root else []
        self.runs.update({r["id"]: r for r in gate_tree})
        return tree, gate_tree

    def _edges(self, tree_ids: list[str], more: set[str]) -> list[dict[str, Any]]:
        rows = [dict(r) for r in self.conn.execute(
            select(Edge).where(Edge.run_id.in_(sorted(set(tree_ids) | more)), Edge.entity_kind == "dataset")).mappings()]
        # Rows of one transaction share an audit_seq, and uuid7 ids are random within a millisecond: order by
        # content, so the documents come out the same every time (and on every backend).
        rows.sort(key=lambda e: (e["audit_seq"], self.started(e["run_id"]), e["direction"], e["role"], e["fingerprint"]))
        for edge in rows:
            edge["task"] = self.task(edge["run_id"])
        return rows

    def _checks(self, tree_ids: list[str], linked: list[dict[str, Any]],
                edges: list[dict[str, Any]]) -> tuple[CheckFact, ...]:
        """The training tree's and the gate tree's results, plus every other one linked to the version."""
        rows = {r["id"]: r for r in linked}
        if tree_ids:
            rows.update({r["id"]: dict(r) for r in self.conn.execute(
                select(CheckResultRow).where(CheckResultRow.run_id.in_(tree_ids))).mappings()})
        inputs: dict[str, set[str]] = {}
        for edge in edges:
            if edge["direction"] == "input":
                inputs.setdefault(edge["run_id"], set()).add(edge["fingerprint"])
        # A flow that returns its tasks' results records them a second time, on the flow run: keep the task's.
        kept: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in sorted(rows.values(), key=lambda r: (r["run_id"] == self.root_of(r["run_id"]), r["audit_seq"], r["id"])):
            key = (self.root_of(row["run_id"]), row["kind"], row["name"], row["subject"], row["passed"],
                   row["observed_json"], row["threshold_json"], row["details_json"])
            kept.setdefault(key, row)
        ordered = sorted(kept.values(), key=lambda r: (r["audit_seq"], self.started(r["run_id"]), r["kind"], r["name"],
                                                       r["subject"], r["id"]))
        return tuple(CheckFact(
            id=r["id"], run_id=r["run_id"], task=self.task(r["run_id"]), phase=self.phase_of(r["run_id"]),
            kind=r["kind"], name=r["name"], subject=r["subject"], passed=None if r["passed"] is None else bool(r["passed"]),
            observed=_json(r["observed_json"]), threshold=_json(r["threshold_json"]), severity=r["severity"],
            details=_json(r["details_json"], {}) or {}, inputs=tuple(sorted(inputs.get(r["run_id"], ()))),
        ) for r in ordered)

    def _use(self, edge: dict[str, Any]) -> DatasetUse:
        return DatasetUse(edge["run_id"], edge["task"], self.phase_of(edge["run_id"]))

    def _datasets(self, edges: list[dict[str, Any]], checks: tuple[CheckFact, ...], config: Mapping[str, Any],
                  artifacts: tuple[ArtifactFacts, ...]) -> tuple[DatasetFacts, ...]:
        fingerprints = sorted({e["fingerprint"] for e in edges})
        if not fingerprints:
            return ()
        rows = {r["fingerprint"]: dict(r) for r in self.conn.execute(
            select(DatasetVersion).where(DatasetVersion.fingerprint.in_(fingerprints))).mappings()}
        data = config.get("data")
        origin = data.get("origin") if isinstance(data, Mapping) else None
        facts = []
        for fp in sorted(rows, key=lambda f: (rows[f]["audit_seq"], rows[f]["name"], f)):
            row, mine = rows[fp], [e for e in edges if e["fingerprint"] == fp]
            role = _dataset_role(row["name"], mine)
            producer = next((e for e in mine if e["direction"] == "output"), None)
            parents = {e["fingerprint"] for e in edges if producer is not None and e["run_id"] == producer["run_id"]
                       and e["direction"] == "input" and e["fingerprint"] != fp}
            schema = _json(row["schema_json"])
            facts.append(DatasetFacts(
                id=row["id"], role=role, name=row["name"], fingerprint=fp,
                schema=tuple((str(c[0]), str(c[1])) for c in schema) if isinstance(schema, list) else None,
                row_count=row["row_count"], uri=row["uri"], origin=origin, created_at=row["created_at"],
                produced_by=self._use(producer) if producer is not None else None,
                derived_from=parents.pop() if len(parents) == 1 else None,
                used_by=tuple(dict.fromkeys(self._use(e) for e in mine if e["direction"] == "input")),
                validation=tuple(c for c in checks if c.kind == "validation" and fp in c.inputs),
                stored_copy=next((a for a in reversed(artifacts) if a.kind == STORED_COPY_KINDS.get(role)), None),
            ))
        order = {role: i for i, role in enumerate(DATASET_ROLES)}
        return tuple(sorted(facts, key=lambda d: order.get(d.role, len(order))))  # stable within a role


def _stages(conn: Connection, ids: list[str]) -> dict[str, tuple[StageFacts, ...]]:
    found: dict[str, list[StageFacts]] = {}
    if ids:
        for s in conn.execute(select(StageChange).where(StageChange.model_version_id.in_(ids), chained(StageChange))
                              .order_by(StageChange.audit_seq, StageChange.at)).mappings():
            found.setdefault(s["model_version_id"], []).append(StageFacts(s["id"], s["stage"], s["at"], s["by"], s["reason"]))
    return {k: tuple(v) for k, v in found.items()}


def _versions(conn: Connection, system: str) -> tuple[SiblingVersion, ...]:
    rows = conn.execute(select(ModelVersion.id, ModelVersion.version, ModelVersion.fingerprint,
                               ModelVersion.config_snapshot, ModelVersion.created_at)
                        .where(ModelVersion.system == system).order_by(ModelVersion.version)).all()
    stages = _stages(conn, [r[0] for r in rows])
    return tuple(SiblingVersion(r[0], r[1], r[2], canon.hash_value(_json(r[3], {}) or {}), r[4],
                                stages[r[0]][-1].stage if stages.get(r[0]) else None) for r in rows)
