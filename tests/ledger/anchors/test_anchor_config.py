"""Where anchors come from: the `anchors:` section of govflow.yaml (and GOVFLOW_ANCHORS over it), and the
Prefect anchor, which ties each head to the govflow flow run that left it, in Prefect's own database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from govflow.flows import anchoring, recording
from govflow.flows.anchor_prefect import PrefectSink, artifact_key
from govflow.governance.config import load_config
from govflow.governance.ledger.anchor_settings import AnchorSettings, resolve
from govflow.governance.ledger.anchors import HeadsFile
from govflow.governance.ledger.engine import Ledger
from tests.ledger.anchors.conftest import Key, govflow_cli
from tests.ledger.helpers import record_step

CONFIG = """\
system: {{name: anchored, intended_purpose: test anchors}}
data: {{train: train.csv, target: y, positive_label: 1}}
anchors:
  sinks:
    - file: elsewhere/heads.log
    - folder: {folder}
  key: {key}
  public_key: {public}
"""


def write_config(tmp_path: Path, key: Key) -> Path:
    (tmp_path / "train.csv").write_text("x,y\n1,0\n2,1\n")
    path = tmp_path / "govflow.yaml"
    path.write_text(CONFIG.format(folder=tmp_path / "share", key=key.path, public=key.public))
    return path


def test_the_anchors_section_names_the_sinks_and_keys(tmp_path: Path, key: Key) -> None:
    config = load_config(write_config(tmp_path, key))
    settings = resolve(config.anchors, Path(config.base_dir))
    assert settings.sinks == (("file", str(tmp_path / "elsewhere" / "heads.log")), ("folder", str(tmp_path / "share")))
    assert settings.key == key.path and settings.public_key == key.public
    assert "anchors" not in config.snapshot()  # the operator's setting: not part of the system's stored config


def test_verify_reads_the_anchors_section_with_c(ledger: Ledger, tmp_path: Path, key: Key) -> None:
    path = write_config(tmp_path, key)
    config = load_config(path)
    record_step(ledger)
    anchoring.publish(ledger, resolve(config.anchors, Path(config.base_dir)))
    head = ledger.head()
    result = govflow_cli(ledger, "verify", "--anchors", "-c", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == (
        f"anchors agree: heads.log (1 head(s), latest seq {head[0]}); {tmp_path / 'elsewhere' / 'heads.log'} "
        f"(1 head(s), latest seq {head[0]}); folder {tmp_path / 'share'} (1 head(s), latest seq {head[0]})")
    (tmp_path / "elsewhere" / "heads.log").write_text("")  # an anchor emptied: heads.log and the folder still know
    overridden = govflow_cli(ledger, "verify", "--anchors", "-c", str(path), anchors=f"file:{tmp_path / 'none.log'}")
    assert overridden.returncode == 0, overridden.stderr  # GOVFLOW_ANCHORS beats the section
    assert overridden.stdout.splitlines()[-1] == (
        f"anchors agree: heads.log (2 head(s), latest seq {head[0]}); {tmp_path / 'none.log'} (0 head(s), latest seq 0)")


@pytest.fixture
def prefect_api(prefect_harness: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.settings import PREFECT_API_URL

    monkeypatch.setenv("PREFECT_API_URL", str(PREFECT_API_URL.value()))


def test_the_prefect_anchor_ties_the_head_to_the_flow_run_that_left_it(ledger: Ledger, prefect_api: None) -> None:
    @recording.flow(name="anchored-flow")
    def anchored_flow() -> int:
        return 1

    recording.set_ledger(ledger)
    recording.add_listener(anchoring.remember_flow_runs)
    try:
        from prefect.context import FlowRunContext

        run_ids: list[str] = []

        @recording.flow(name="anchored-outer")
        def outer() -> int:
            ctx = FlowRunContext.get()
            assert ctx is not None and ctx.flow_run is not None
            run_ids.append(str(ctx.flow_run.id))
            return int(anchored_flow())

        outer()
    finally:
        recording.remove_listener(anchoring.remember_flow_runs)
        recording.set_ledger(None)
    anchoring.publish(ledger, AnchorSettings(sinks=(("prefect", ""),)))
    head = ledger.head()
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=[artifact_key(ledger.ledger_id())])))
    assert [str(a.flow_run_id) for a in artifacts] == run_ids  # the root flow run, not the subflow
    data = str(artifacts[0].data)
    assert json.loads(data.split("```json\n")[1].split("\n")[0])["entry_hash"] == head[1]
    mine = [h for h in PrefectSink().read() if h.ledger_id == ledger.ledger_id()]
    assert [(h.seq, h.entry_hash) for h in mine] == [head]
    assert HeadsFile(ledger.home / "heads.log").read()[-1].entry_hash == head[1]
