"""`govflow register --from-mlflow models:/NAME/VERSION`: the model file and logged parameters of an MLflow
model version (MLflow is the optional extra ``govflow[mlflow]``).

The model version's files are downloaded and its scikit-learn flavour's model file is then read as
any model file is (`govflow.flows.models.files`): a skops file under skops' trusted-types check, a
pickle or cloudpickle file only with ``--trust-pickle``. The tracking server is MLflow's own
setting (``MLFLOW_TRACKING_URI``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from govflow.errors import InputError

URI = re.compile(r"models:/([^/]+)/([0-9]+)")
BAD_URI = "--from-mlflow takes models:/NAME/VERSION with a version number (e.g. models:/credit-scoring/3), not '{uri}'"
NOT_INSTALLED = "--from-mlflow needs MLflow, which is not installed: pip install 'govflow[mlflow]'"
NOT_FETCHED = "cannot fetch {uri} from the MLflow registry at {tracking}: {reason}; check the name, version and MLFLOW_TRACKING_URI"
NO_SKLEARN = ("{uri} has no scikit-learn flavour (flavours: {flavours}); govflow registers scikit-learn models: log it "
              "with mlflow.sklearn.log_model")
BOTH = "give the model either as --model FILE or as --from-mlflow models:/NAME/VERSION, not both"
NEITHER = "give the model: --model FILE (a .skops or joblib file) or --from-mlflow models:/NAME/VERSION"


@dataclass(frozen=True)
class MlflowModel:
    uri: str
    model_file: Path  #: the scikit-learn flavour's model file, downloaded
    tracking_uri: str
    run_id: str | None
    params: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"uri": self.uri, "tracking_uri": self.tracking_uri, "run_id": self.run_id, "params": self.params}


def _reason(error: Exception) -> str:
    return (str(getattr(error, "message", "") or error).strip().splitlines() or [type(error).__name__])[0]


def fetch(uri: str, folder: Path) -> MlflowModel:
    """Download the model version's files into ``folder``; its run's logged parameters."""
    match = URI.fullmatch(uri)
    if match is None:
        raise InputError(BAD_URI.format(uri=uri))
    try:
        import mlflow
        from mlflow import MlflowClient
    except ImportError as e:
        raise InputError(NOT_INSTALLED) from e
    import yaml

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one line on screen, not a progress bar
    tracking = mlflow.get_tracking_uri()
    client = MlflowClient()
    try:
        version = client.get_model_version(match.group(1), match.group(2))
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(folder)))
        params = dict(client.get_run(version.run_id).data.params) if version.run_id else {}
    except Exception as e:  # MlflowException and the store's own errors: one cause, not fetched
        raise InputError(NOT_FETCHED.format(uri=uri, tracking=tracking, reason=_reason(e))) from e
    flavours = (yaml.safe_load((local / "MLmodel").read_text(encoding="utf-8")) or {}).get("flavors") or {}
    sklearn = flavours.get("sklearn")
    if not isinstance(sklearn, dict) or not sklearn.get("pickled_model"):
        raise InputError(NO_SKLEARN.format(uri=uri, flavours=", ".join(sorted(flavours)) or "none"))
    return MlflowModel(uri=uri, model_file=local / str(sklearn["pickled_model"]), tracking_uri=tracking,
                       run_id=version.run_id, params={str(k): str(v) for k, v in sorted(params.items())})
