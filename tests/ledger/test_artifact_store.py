"""The ledger is handed its artifact store (an `ArtifactStore`); by default the folder in its home."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import select

from govflow.governance.ledger.artifacts import ArtifactStore, FileArtifactStore
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.runs import add_artifact
from govflow.governance.ledger.schema import Artifact
from govflow.governance.ledger.verify import verify


def test_by_default_files_are_kept_in_the_home(tmp_path: Path) -> None:
    ledger = Ledger.open(home=tmp_path / "home")
    try:
        assert isinstance(ledger.artifacts, FileArtifactStore) and isinstance(ledger.artifacts, ArtifactStore)
        digest = ledger.artifacts.put(b"card")
        assert (tmp_path / "home" / "artifacts" / digest).read_bytes() == b"card"
    finally:
        ledger.close()


def test_a_ledger_handed_a_store_keeps_and_verifies_its_files_there(tmp_path: Path) -> None:
    opened = Ledger.open(home=tmp_path / "home")
    shared = FileArtifactStore(tmp_path / "shared")
    ledger = Ledger(opened.engine, opened.home, opened.url, artifacts=shared)
    with ledger.write("test.card", "a model card") as w:
        row = add_artifact(w, ledger.artifacts, kind="model_card", name="card.md", data=b"# card",
                           media_type="text/markdown")
    assert (tmp_path / "shared" / row["content_hash"]).read_bytes() == b"# card"
    assert not (tmp_path / "home" / "artifacts" / row["content_hash"]).exists()
    with ledger.read() as conn:
        assert conn.execute(select(Artifact.uri).where(Artifact.id == row["id"])).scalar_one() == \
            f"artifacts/{row['content_hash']}"
    assert verify(ledger).intact
    (tmp_path / "shared" / row["content_hash"]).write_bytes(b"# forged")
    assert [f.problem for f in verify(ledger).findings] == [
        f"artifact file artifacts/{row['content_hash']} was altered (its bytes hash to "
        f"{hashlib.sha256(b'# forged').hexdigest()[:16]}...)"]
    opened.close()
