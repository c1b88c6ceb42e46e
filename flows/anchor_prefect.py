"""The Prefect anchor: each head is a Prefect artifact, kept in Prefect's own database.

Prefect's database is another trust domain than the ledger's (another server, another owner, its
own backups), and each artifact is tied to the govflow flow run that advanced the head, so the run
history in the Prefect UI shows the head each run left behind. Artifacts under one key are versions
of it: every head ever published stays readable, which is what `verify --anchors` reads back.
"""

from __future__ import annotations

import json
from typing import Any

from govflow.governance.ledger.anchors import AnchorError, Head

KEY_PREFIX = "govflow-head-"
_FENCE = "```json\n"


def artifact_key(ledger_id: str) -> str:
    clean = "".join(ch if ch.isalnum() else "-" for ch in ledger_id.lower())
    return (KEY_PREFIX + clean)[:100]


class PrefectSink:
    """Publishes to and reads from the Prefect API in force (``PREFECT_API_URL``, else Prefect's own)."""

    name = "prefect"

    def __init__(self, flow_run_id: str | None = None) -> None:
        self.flow_run_id = flow_run_id  # the govflow flow run that advanced the head, when there was one
        self.warnings: list[str] = []

    def publish(self, head: Head) -> None:
        from prefect.client.schemas.actions import ArtifactCreate

        data = (f"# govflow chain head\n\nledger `{head.ledger_id}`, entry {head.seq}: `{head.entry_hash}`\n\n"
                f"{_FENCE}{json.dumps(head.as_json(), sort_keys=True)}\n```\n")
        request = ArtifactCreate(key=artifact_key(head.ledger_id), type="markdown", data=data,
                                 description=f"govflow chain head {head.seq}", flow_run_id=self.flow_run_id)
        self._call(lambda client: client.create_artifact(artifact=request), "publish the chain head to")

    def read(self) -> list[Head]:
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

        self.warnings = []
        wanted = ArtifactFilter(key=ArtifactFilterKey(like_=KEY_PREFIX))

        def everything(client: Any) -> list[Any]:
            found: list[Any] = []
            while True:
                page = client.read_artifacts(artifact_filter=wanted, limit=200, offset=len(found))
                found += page
                if len(page) < 200:
                    return found

        heads = []
        for artifact in self._call(everything, "read heads from"):
            if not str(artifact.key or "").startswith(KEY_PREFIX):
                continue
            text = str(artifact.data or "")
            try:
                start = text.index(_FENCE) + len(_FENCE)
                heads.append(Head.of(json.loads(text[start:text.index("\n", start)])))
            except ValueError as e:
                raise AnchorError(f"Prefect artifact {artifact.key} ({artifact.id}) is not a govflow chain head ({e})") from None
        return heads

    def _call(self, action: Any, doing: str) -> Any:
        from prefect.client.orchestration import get_client

        try:
            with get_client(sync_client=True) as client:
                return action(client)
        except AnchorError:
            raise
        except Exception as e:  # noqa: BLE001 - any API failure: unreachable, refused, a server error
            reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise AnchorError(f"could not {doing} the Prefect API: {reason}") from None
