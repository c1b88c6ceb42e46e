"""`gather`: what the ledger records about a model version, read back into `Evidence`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from govflow.errors import InputError
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import CheckResultRow, Run, RunState
from govflow.governance.reports.evidence import DEFAULT_REQUIRED_ROLES, gather, required_roles
from tests.reports.documents import scenario


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Ledger]:
    ledger = Ledger.open(home=tmp_path / "home")
    yield ledger
    ledger.close()


def test_gather_reads_a_recorded_version(ledger: Ledger) -> None:
    rec = scenario.full(ledger)
    e = gather(ledger, rec.model_version_id, clock=lambda: scenario.GENERATED_AT)

    assert (e.version.system, e.version.version, e.version.label) == ("credit-scoring", 1, "credit-scoring:1")
    assert e.version.fingerprint == scenario.fp("model")
    assert dict(e.version.hyperparams) == {"C": 1.0, "max_iter": 2000}
    assert e.config["system"]["provider"] == "Example Bank AG"
    assert e.generated_at == scenario.GENERATED_AT
    assert e.chain_head.seq, e.chain_head.entry_hash == ledger.head()
    assert e.ledger_id == ledger.ledger_id()

    assert e.training_run is not None and e.training_run.id == rec.training_run_id
    assert e.training_run.code_ref == "git:4f2c1e9a"
    assert e.training_run.env["scikit-learn"] == "1.9.0"
    assert e.training_run.ended_at == scenario.T0 + timedelta(minutes=10)
    assert [t.name for t in e.training_run.tasks] == [
        "load_data", "validate_data", "split_data", "fit_model", "evaluate_model", "register_candidate"]
    assert e.gate_run is not None and e.gate_run.id == rec.gate_run_id

    assert [(d.role, d.name, d.row_count) for d in e.datasets] == [
        ("source", "german_credit.csv", 1000),
        ("train", "german_credit.csv (train split)", 700),
        ("held-out", "german_credit.csv (held-out split)", 300),
    ]
    source, train, held_out = e.datasets
    assert train.derived_from == held_out.derived_from == source.fingerprint
    assert train.produced_by is not None and train.produced_by.task == "split_data"
    assert train.schema is not None and train.schema[0] == ("age_in_years", "int64")
    assert [c.phase for c in source.validation] == ["training", "training"]
    assert [c.phase for c in held_out.validation] == ["gate", "gate"]
    assert held_out.stored_copy is not None and held_out.stored_copy.kind == "holdout_data"
    assert {u.task for u in held_out.used_by} == {"evaluate_model", "validate_holdout", "evaluate", "assess_fairness"}

    assert list(e.training_checks) == ["validation", "performance"]
    assert list(e.gate_checks) == ["validation", "performance", "fairness"]
    assert len(e.gate_checks["fairness"]) == 5 + 4 + 1  # groups, disparities, a small-group exclusion warning
    assert e.monitoring_checks == ()

    assert e.decision is not None and e.decision.outcome == "block"
    assert e.decision.reasons == ("fairness: demographic_parity_difference on age_in_years = 0.109 (bound 0.1)",)
    assert [(a.role, a.decision, a.os_user) for a in e.approvals] == [
        ("model_owner", "approve", "alice"), ("risk_officer", "reject", "bob")]
    assert e.required_roles == DEFAULT_REQUIRED_ROLES
    assert e.missing_roles == ("risk_officer",)
    assert [s.stage for s in e.stages] == ["candidate"] and e.stage == "candidate"
    assert [a.kind for a in e.artifacts] == ["data_contract", "holdout_data", "reference_data", "fairness_by_group"]
    assert e.group_table_ref == e.artifacts[-1]
    assert [(r["group"], r["selection_rate"]) for r in e.group_table][:2] == [("[0, 25)", 0.5962), ("[25, 120)", 0.7056)]
    assert e.policy_in_force["fairness"]["min_group_size"] == 30
    assert e.policy_in_force["performance"]["decision_threshold"] == 0.5
    assert e.policy_hash == e.decision.policy_hash
    assert [(v.version, v.stage) for v in e.versions] == [(1, "candidate")]


def test_a_check_the_flow_records_again_is_kept_once_from_its_task(fresh: Ledger) -> None:
    rec = scenario.full(fresh)
    e = gather(fresh, rec.model_version_id)
    roc = [c for c in e.checks if c.phase == "gate" and c.name == "roc_auc"]
    assert [(c.task, c.observed) for c in roc] == [("evaluate", 0.7712)]


def test_a_later_gate_run_supersedes_the_earlier_one(fresh: Ledger) -> None:
    rec = scenario.record_training(fresh)
    scenario.record_gate(fresh, rec, fairness=True)
    first_gate = rec.gate_run_id
    scenario.record_gate(fresh, rec, fairness=False)
    e = gather(fresh, rec.model_version_id)
    assert e.gate_run is not None and e.gate_run.id == rec.gate_run_id != first_gate
    assert [d.outcome for d in e.decisions] == ["block", "pass"]
    assert "fairness" not in e.gate_checks
    assert {c.phase for c in e.checks} == {"training", "gate", "earlier-gate"}


def test_monitoring_results_linked_to_the_version_are_their_own_phase(fresh: Ledger) -> None:
    rec = scenario.full(fresh)
    at = scenario.T0 + timedelta(days=3)
    with fresh.write("flow.completed", "flow monitor") as w:
        run = w.add(Run, kind="flow", name="monitor", params_json="{}", env_json="{}", started_at=at)
        w.add(RunState, run_id=run["id"], state="completed", at=at)
        w.add(CheckResultRow, run_id=run["id"], model_version_id=rec.model_version_id, kind="drift",
              name="drifted_column_share", subject="features", passed=1, observed_json="0.1",
              threshold_json='{"max":0.3}', severity="error", details_json="{}")
    e = gather(fresh, rec.model_version_id)
    assert [(c.phase, c.name) for c in e.monitoring_checks] == [("monitor", "drifted_column_share")]


def test_an_altered_group_table_is_left_out(fresh: Ledger) -> None:
    rec = scenario.full(fresh)
    table = gather(fresh, rec.model_version_id).group_table_ref
    assert table is not None
    fresh.artifacts.path(table.content_hash).write_bytes(b"[]")
    e = gather(fresh, rec.model_version_id)
    assert (e.group_table, e.group_table_ref) == ((), None)


def test_gather_refuses_an_unknown_version(fresh: Ledger) -> None:
    with pytest.raises(InputError) as error:
        gather(fresh, "no-such-id")
    assert str(error.value) == ("no model version with id 'no-such-id' in the ledger; "
                                "resolve NAME:VERSION with `govflow.governance.registry.versions.resolve`")


@pytest.mark.parametrize(("policy", "roles"), [
    ({}, ("model_owner", "risk_officer")),
    ({"approvals": None}, ("model_owner", "risk_officer")),
    ({"approvals": ["risk_officer"]}, ("risk_officer",)),
    ({"approvals": []}, ()),
    ({"approvals": [{"role": "dpo"}]}, ("dpo",)),
])
def test_required_roles_come_from_the_policy(policy: dict[str, object], roles: tuple[str, ...]) -> None:
    assert required_roles(policy) == roles


def test_required_roles_of_a_version_follow_its_config_snapshot(fresh: Ledger) -> None:
    config = {**scenario.CONFIG, "policy": {**scenario.CONFIG["policy"], "approvals": ["model_owner"]}}
    rec = scenario.record_training(fresh, config)
    e = gather(fresh, rec.model_version_id)
    assert e.required_roles == ("model_owner",)
    assert e.missing_roles == ("model_owner",)
