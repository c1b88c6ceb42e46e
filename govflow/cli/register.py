"""`govflow register NAME --model FILE | --from-mlflow models:/NAME/VERSION --train FILE --test FILE`: a model
fitted elsewhere, as a candidate."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from govflow.cli.context import ConfigOption
from govflow.cli.run import prepare
from govflow.errors import ConfigError, InputError

WRONG_NAME = "{name} is not the system of {config} (system.name: {expected}); pass the matching -c file or name"


def register(
    typer_ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The system's name (system.name in the config).")],
    train: Annotated[Path, typer.Option("--train", help="The data it was fitted on (csv or parquet).")],
    test: Annotated[Path, typer.Option("--test", help="Held-out data it never saw, for the gate (csv or parquet).")],
    model: Annotated[Path | None, typer.Option("--model", help="The fitted model: .skops (recommended), or .joblib/.pkl with --trust-pickle.")] = None,
    from_mlflow: Annotated[str | None, typer.Option("--from-mlflow", help="models:/NAME/VERSION in the MLflow registry (MLFLOW_TRACKING_URI), instead of --model.")] = None,
    config: ConfigOption = Path("govflow.yaml"),
    person: Annotated[str | None, typer.Option("--as", help="Who registers it, as it should stand in the record (default: the OS user).")] = None,
    trained_by: Annotated[str | None, typer.Option("--trained-by", help="Who trained it (a person or team; default: --as).")] = None,
    trust: Annotated[list[str] | None, typer.Option("--trust", help="A type in a .skops file you trust (repeatable), as the refusal names it.")] = None,
    trust_pickle: Annotated[bool, typer.Option("--trust-pickle", help="Load a pickle/joblib file: it runs code from the file.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Register a model trained outside govflow as a candidate version, with its training and held-out data."""
    from govflow.flows.models import mlflow_source
    from govflow.flows.register import check_inputs, register_flow
    from govflow.governance.config import load_config
    from govflow.governance.registry import versions as registry

    cfg = load_config(config)
    if name != cfg.system.name:
        raise ConfigError(WRONG_NAME.format(name=name, config=config, expected=cfg.system.name))
    if (model is None) == (from_mlflow is None):
        raise InputError(mlflow_source.BOTH if model is not None else mlflow_source.NEITHER)
    who = (person or "").strip() or registry.os_user()
    trusted = list(trust or [])
    with tempfile.TemporaryDirectory(prefix="govflow-mlflow-") as folder:
        fetched = mlflow_source.fetch(from_mlflow, Path(folder)) if from_mlflow is not None else None
        file = fetched.model_file if fetched is not None else model
        assert file is not None
        try:
            check_inputs(cfg, file, train, test, trusted, trust_pickle)  # bad input: refused before the ledger
        except InputError as e:
            if fetched is None:
                raise
            raise type(e)(str(e).replace(str(file), f"{from_mlflow} ({file.name})")) from e  # not the download folder
        prepare(typer_ctx, config)
        outcome = register_flow(str(config), str(file), str(train), str(test), who, trained_by, trusted, trust_pickle,
                                fetched.to_dict() if fetched is not None else None)
    source = f"{from_mlflow} ({file.name})" if from_mlflow else file.name
    if as_json:
        typer.echo(json.dumps({**outcome.to_dict(), "source": source, "registered_by": who,
                               "trained_by": trained_by or who, "trained_outside_govflow": True}, indent=1))
        return
    typer.echo(f"registered {outcome.version} as candidate from {source}, trained outside govflow "
               f"(by {trained_by or who}; registered by {who}); held-out performance "
               f"{'passed' if outcome.performance.passed else 'below the policy'}")
    typer.echo(f"next: govflow run gate -c {config} --version {outcome.version.rsplit(':', 1)[1]}")
