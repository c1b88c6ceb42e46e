"""The playbook as ledger operations: freeze, rollback to the right version, stop serving, close."""

from __future__ import annotations

import pytest

from govflow.checks.policy import Policy
from govflow.errors import ComplianceBlocked, InputError
from govflow.governance.ledger.engine import Ledger
from govflow.governance.monitoring import incidents, reporting
from govflow.governance.registry import versions as registry
from tests.gate_record import record_completed_gate

SYSTEM = "loans"
ROLES = ["model_owner", "risk_officer"]
SNAPSHOT = {"system": {"name": SYSTEM}, "policy": {"approvals": ROLES}}


def version(ledger: Ledger, *, gate: str = "pass", approve: bool = True, promote: bool = False) -> str:
    """A registered version with its gate decision, approvals and promotion, as the registry records them."""
    ref = registry.register_version(ledger, system=SYSTEM, model_data=f"model {registry.os_user()}".encode() + bytes(8),
                                    fingerprint="fp1:" + "0" * 64, training_run_id=None, hyperparams={},
                                    config_snapshot=SNAPSHOT, attachments=[], by="tests")
    record_completed_gate(ledger, ref, outcome=gate, reasons=[] if gate == "pass" else ["fairness: too wide"],
                          policy=Policy(approvals=ROLES).to_dict())
    if approve and gate == "pass":
        for person, role in (("Dana Meyer", "model_owner"), ("Ravi Patel", "risk_officer")):
            registry.approve(ledger, str(ref), approver=person, role=role, reason="ok", required_roles=ROLES)
    if promote:
        registry.promote(ledger, str(ref), by="tests", required_roles=ROLES)
    return str(ref)


def stage(ledger: Ledger, ref: str) -> str | None:
    with ledger.read() as conn:
        return registry.current_stage(conn, registry.resolve(conn, ref).id)


def implicate(ledger: Ledger, ref: str, kind: str = "fundamental_rights") -> str:
    with ledger.read() as conn:
        mv_id = registry.resolve(conn, ref).id
    return incidents.open_incident(ledger, system=SYSTEM, kind=kind, summary=f"complaint about {ref}", by="tests",
                                   model_version_id=mv_id).id


def sent(ledger: Ledger, incident: str) -> str:
    """Record the Art. 73 report as sent (a reportable incident closes only then)."""
    reporting.notify(ledger, incident, to="Bundesnetzagentur", reference=f"BNetzA-{incident[:8]}", by="Ravi Patel")
    return incident


@pytest.fixture
def history(ledger: Ledger) -> Ledger:
    """v1 served, v2 served, v3 blocked, v4 approved but never served, v5 in production."""
    version(ledger, promote=True)
    version(ledger, promote=True)
    version(ledger, gate="block")
    version(ledger)
    version(ledger, promote=True)
    return ledger


def test_rollback_returns_to_the_last_compliant_version_that_served(history: Ledger) -> None:
    incident = implicate(history, "loans:5")
    incidents.freeze(history, incident, "tests")
    done = incidents.suspend_and_roll_back(history, incident, "tests")
    never = "never in production (a rollback returns to a version that served before)"
    assert done == {"suspended": "loans:5", "was_serving": True, "restored": "loans:2", "stopped": False,
                    "already": False, "skipped": [["loans:5", "implicated by an open incident"],
                                                  ["loans:4", never], ["loans:3", never]]}
    assert [stage(history, f"loans:{n}") for n in (1, 2, 3, 4, 5)] == ["retired", "production", "candidate",
                                                                        "approved", "suspended"]
    with history.read() as conn:
        actions = [e["action"] for e in incidents.get(conn, incident).events]
    assert actions == ["opened", "frozen", "suspended", "rolled_back"]
    # Idempotent: a second run changes nothing.
    again = incidents.suspend_and_roll_back(history, incident, "tests")
    assert again["already"] is True and stage(history, "loans:2") == "production"


def test_a_suspended_version_is_passed_over_and_without_any_serving_stops(history: Ledger) -> None:
    first = implicate(history, "loans:5")
    assert incidents.suspend_and_roll_back(history, first, "tests")["restored"] == "loans:2"
    incidents.close(history, sent(history, first), approver="Ravi Patel", reason="handled")
    second = implicate(history, "loans:2")
    assert incidents.suspend_and_roll_back(history, second, "tests")["restored"] == "loans:1"
    third = implicate(history, "loans:1")
    done = incidents.suspend_and_roll_back(history, third, "tests")
    assert (done["restored"], done["stopped"]) == (None, True)
    assert done["skipped"][:3] == [["loans:5", "suspended"], ["loans:4", "never in production (a rollback returns "
                                                                          "to a version that served before)"],
                                   ["loans:3", "never in production (a rollback returns to a version that served before)"]]
    with history.read() as conn:
        assert registry.production_version(conn, SYSTEM) is None
        assert incidents.get(conn, third).event("serving_stopped") is not None


def test_promotion_is_refused_while_frozen_and_allowed_after_a_named_close(history: Ledger) -> None:
    incident = implicate(history, "loans:5")
    incidents.freeze(history, incident, "tests")
    with pytest.raises(ComplianceBlocked) as refused:
        registry.promote(history, "loans:4", by="tests", required_roles=ROLES)
    assert str(refused.value) == (f"cannot promote loans:4: missing: the system loans is frozen (incident {incident}); "
                                  "no promotion while it is open")
    with pytest.raises(InputError) as unnamed:
        incidents.close(history, incident, approver="  ", reason="fixed")
    assert str(unnamed.value) == incidents.NAMED_APPROVAL
    closed = incidents.close(history, sent(history, incident), approver="Ravi Patel", reason="root cause fixed in loans:4")
    assert closed == {"incident": incident, "system": SYSTEM, "unfrozen": True, "still_frozen_by": None}
    registry.promote(history, "loans:4", by="tests", required_roles=ROLES)
    assert stage(history, "loans:4") == "production"
    with pytest.raises(ComplianceBlocked) as twice:
        incidents.close(history, incident, approver="Ravi Patel", reason="again")
    assert str(twice.value).startswith(f"incident {incident} was closed at ")
    with history.read() as conn:
        last = incidents.get(conn, incident).events[-1]
    assert (last["action"], last["by"], last["details"]["rationale"]) == ("closed", "Ravi Patel", "root cause fixed in loans:4")


def test_the_system_stays_frozen_while_another_incident_is_open(history: Ledger) -> None:
    first, second = implicate(history, "loans:5"), implicate(history, "loans:5", kind="malfunction")
    incidents.freeze(history, first, "tests")
    incidents.freeze(history, second, "tests")
    done = incidents.close(history, second, approver="A", reason="duplicate of the first")
    assert (done["unfrozen"], done["still_frozen_by"]) == (False, first)
    with history.read() as conn:
        assert registry.system_state(conn, SYSTEM) == ("frozen", first)
    assert incidents.close(history, sent(history, first), approver="B", reason="handled")["unfrozen"] is True
    with history.read() as conn:
        assert registry.system_state(conn, SYSTEM) == ("active", first)


def test_incident_ids_resolve_from_a_prefix(history: Ledger) -> None:
    incident = implicate(history, "loans:5")
    with history.read() as conn:
        assert incidents.resolve(conn, incident[:13]) == incident
        with pytest.raises(InputError) as short:
            incidents.resolve(conn, incident[:4])
        assert str(short.value) == (f"incident id '{incident[:4]}' is too short: give the full id or at least 8 characters")


def test_rollback_reads_the_roles_of_the_policy_the_gate_applied_not_the_training_config(ledger: Ledger) -> None:
    """loans:1 was trained with a config that asked the model owner only, but gated (and promoted) under a
    policy in force that asks the risk officer too; the risk officer later withdrew. A rollback must not
    return to it: promote would refuse it, and so must the rollback."""
    ref = registry.register_version(ledger, system=SYSTEM, model_data=b"model one" + bytes(8), fingerprint="fp1:" + "0" * 64,
                                    training_run_id=None, hyperparams={}, attachments=[], by="tests",
                                    config_snapshot={**SNAPSHOT, "policy": {"approvals": ["model_owner"]}})
    record_completed_gate(ledger, ref, outcome="pass", reasons=[], policy=Policy(approvals=ROLES).to_dict())
    for person, role in (("Dana Meyer", "model_owner"), ("Ravi Patel", "risk_officer")):
        registry.approve(ledger, str(ref), approver=person, role=role, reason="ok", required_roles=ROLES)
    registry.promote(ledger, str(ref), by="tests", required_roles=ROLES)
    registry.approve(ledger, str(ref), approver="Ravi Patel", role="risk_officer", reason="withdrawn: bias found",
                     reject=True, required_roles=ROLES)
    version(ledger, promote=True)
    done = incidents.suspend_and_roll_back(ledger, implicate(ledger, "loans:2"), "tests")
    assert (done["restored"], done["stopped"]) == (None, True)
    assert ["loans:1", "not approved by risk_officer"] in done["skipped"]
