"""`govflow demo` (credit) shows the policy record and a signed approval (#16): the first gate records the
policy in force, the risk officer signs his decision with a key generated into the demo's home, and the
final verify checks that signature."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from govflow.demo.credit import CONFIGS, DATA, run_demo
from govflow.demo.signing import NO_SSH_KEYGEN, prepare_signing
from govflow.flows.recording import set_ledger
from govflow.governance.access import signatures
from govflow.governance.config import load_config
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import Approval, ApprovalSignature
from govflow.governance.ledger.verify import verify
from govflow.governance.registry.policy_in_force import FIRST_GATE, in_force

SOURCES = tuple(DATA / name for name in CONFIGS["credit"])


@pytest.fixture
def demo_ledger(prefect_harness: None, tmp_path: Path) -> Iterator[Ledger]:
    ledger = Ledger.open(home=tmp_path / "home")
    set_ledger(ledger)
    yield ledger
    set_ledger(None)
    ledger.close()


def test_the_demo_configs_name_the_allowed_signers_and_the_key_is_allowed(tmp_path: Path) -> None:
    signing = prepare_signing(tmp_path, SOURCES)
    assert signing.key is not None and signing.key.exists() and signing.why is None
    lines = signing.allowed_signers.read_text(encoding="utf-8").splitlines()
    assert lines[1].startswith('"Ravi Patel@risk_officer" namespaces="govflow" ssh-ed25519 ')
    for config in signing.configs:
        loaded = load_config(config)
        assert loaded.policy_model().allowed_signers == "allowed_signers"
        assert loaded.train_path == DATA / "german_credit.csv"
    again = prepare_signing(tmp_path, SOURCES)  # a second demo on the same home keeps its key
    assert again.key == signing.key and again.allowed_signers.read_text(encoding="utf-8") == "\n".join(lines) + "\n"


def test_without_ssh_keygen_the_demo_says_it_records_the_decision_unsigned(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    signing = prepare_signing(tmp_path, SOURCES)
    assert (signing.key, signing.why) == (None, NO_SSH_KEYGEN)
    assert signing.allowed_signers.read_text(encoding="utf-8").startswith("# who may sign")


@pytest.mark.slow
def test_the_demo_shows_the_policy_record_and_a_signed_decision_that_verify_checks(
        demo_ledger: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    run_demo(demo_ledger, demo_ledger.home, "credit")
    out = capsys.readouterr().out
    with demo_ledger.read() as conn:
        current = in_force(conn, "credit-scoring")
        signed = conn.execute(select(ApprovalSignature)).mappings().all()
        approval = conn.execute(select(Approval).where(Approval.id == signed[0]["approval_id"])).mappings().one()
    assert current is not None and current.role == FIRST_GATE
    assert f"policy in force: {current.policy_hash[:12]}, recorded by the system's first gate decision at " in out
    assert f"policy in force: {current.policy_hash[:12]}, unchanged; this gate applied it" in out
    assert [s["principal"] for s in signed] == ["Ravi Patel@risk_officer"]
    assert signatures.check(dict(approval), dict(signed[0])) is None
    assert f"by Ravi Patel (risk_officer, OS user {approval['os_user']}, signed with SSH key {signed[0]['key_fingerprint']})" in out
    assert "1 signed approval(s) (Ravi Patel@risk_officer) checked with ssh-keygen -Y verify: the signature holds" in out
    assert verify(demo_ledger).intact
