"""`govflow run train|gate|score -c govflow.yaml`: the recorded flows, from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from govflow.cli.context import ConfigOption, Context, JsonOpt, ctx
from govflow.cli.output import emit_json, on_terminal, progress, verdict, wrap

if TYPE_CHECKING:
    from govflow.governance.config import GovflowConfig


def prepare(typer_ctx: typer.Context, config_path: Path) -> GovflowConfig:
    """Load the config and point recording at this command's ledger."""
    return prepare_context(ctx(typer_ctx), config_path)


def prepare_context(context: Context, config_path: Path) -> GovflowConfig:
    """`prepare` for a `Context` (the warm runner keeps one per gate run it serves)."""
    from govflow.flows import recording
    from govflow.flows.anchoring import remember_flow_runs
    from govflow.governance.config import load_config

    config = load_config(config_path)
    recording.set_ledger(context.ledger())
    context.anchors_config = config  # its anchors: section, unless GOVFLOW_ANCHORS says otherwise
    recording.remove_listener(remember_flow_runs)
    recording.add_listener(remember_flow_runs)  # the Prefect anchor ties each head to its flow run
    try:
        from govflow.flows.lineage import configure_openlineage
    except ImportError:  # pragma: no cover - OpenLineage support is optional at import time
        return config
    configure_openlineage(config.lineage.openlineage, system=config.system.name, base=config_path.absolute().parent)
    return config


def run_train(typer_ctx: typer.Context, config: ConfigOption = Path("govflow.yaml"), as_json: JsonOpt = False) -> None:
    """Load, validate, split, fit, evaluate and register a candidate version."""
    from govflow.governance.config import load_config

    checked = load_config(config)  # a misspelt key is refused before pandas, Prefect and the ledger load
    from govflow.governance.registry.datasets import load_training_frame

    load_training_frame(checked)  # bad data too, before the ledger is touched
    from govflow.flows.train import train_flow  # Prefect (and its server) only for a config that holds
    cfg = prepare(typer_ctx, config)
    if not as_json:
        typer.echo(f"training {cfg.system.name} on {cfg.data.train} ...")
    with progress(f"training {cfg.system.name}"):
        outcome = train_flow(str(config))
    if as_json:
        emit_json({**outcome.to_dict(), "validation": outcome.validation.to_dict(),
                   "performance": outcome.performance.to_dict()})
        return
    typer.echo(f"registered {outcome.version} as candidate "
               f"(validation {verdict('passed') if outcome.validation.passed else verdict('FAILED')}, "
               f"held-out performance {verdict('passed') if outcome.performance.passed else 'below the policy'})")
    typer.echo(f"next: govflow run gate -c {config} --version {outcome.version.rsplit(':', 1)[1]}")


def run_gate(
    typer_ctx: typer.Context,
    config: ConfigOption = Path("govflow.yaml"),
    version: Annotated[str, typer.Option("--version", help="Version number, or latest.")] = "latest",
    as_json: JsonOpt = False,
) -> None:
    """Check one version against the policy, write its documents and record pass or block."""
    from govflow.governance.config import load_config
    from govflow.governance.registry.refs import parse_ref

    parse_ref(version if ":" in version else f"{load_config(config).system.name}:{version}")  # before the ledger
    from govflow.cli import warm

    runner = warm.runner_for(ctx(typer_ctx))  # the home's warm runner, when it runs what this process would
    with warm.interrupts():  # Ctrl-C or SIGTERM: one line saying what became of the gate, exit 128 + signal
        try:
            with progress(f"gating {version}"):
                report = warm.gate(ctx(typer_ctx).home, runner, config, version) if runner else None
            if report is None:  # Prefect (and its server) only for a config that holds
                from govflow.flows.gate import gate_flow
                prepare(typer_ctx, config)
                with progress(f"gating {version}"):
                    report = gate_flow(str(config), version).report()
        except warm.Interrupted as e:
            typer.echo(warm.IN_PROCESS.format(why=e.why), err=True)
            raise typer.Exit(e.exit_code) from None
    if as_json:
        emit_json(report)
    else:
        typer.echo(f"gate {verdict(report['outcome'].upper())} for {report['version']} (policy {report['policy_hash'][:12]})")
        for reason in report["reasons"]:
            for line in wrap(reason, indent="  - ") if on_terminal() else [f"  - {reason}"]:
                typer.echo(line)
        typer.echo(f"documents: {', '.join(report['documents'])}")
        typer.echo(f"  stored with {report['version']} in the ledger; the current ones by name: "
                   f"govflow docs {report['version']} --out DIR (model-card.html, annex-iv.html, datasheet-train.html, ...)")
    if report["outcome"] != "pass":
        raise typer.Exit(1)


def run_score(
    typer_ctx: typer.Context,
    input_file: Annotated[Path, typer.Option("--input", help="The rows to score (csv or parquet).")],
    config: ConfigOption = Path("govflow.yaml"),
    output: Annotated[Path | None, typer.Option("--output", help="Also write prediction ids, decisions and scores (csv).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Score a file with the version in production; every row is logged as a prediction."""
    from govflow.governance.config import load_config
    from govflow.governance.registry.datasets import read_frame

    load_config(config)
    read_frame(input_file, check=False)  # a missing or unreadable file is refused before Prefect and the ledger
    from govflow.flows.score import score_flow

    cfg = prepare(typer_ctx, config)
    with progress(f"scoring {input_file.name}"):
        outcome = score_flow(str(config), str(input_file), str(output) if output else None)
    if as_json:
        emit_json(outcome.to_dict())
        return
    entries = outcome.audit_entries
    where = f"audit entries {entries[0]}-{entries[-1]}" if len(entries) > 1 else f"audit entry {entries[0]}"
    typer.echo(f"scored {outcome.input_rows} rows of {input_file} with {outcome.version}: {outcome.favourable} "
               f"{cfg.data.positive_label}, {outcome.input_rows - outcome.favourable} not; logged {outcome.logged} "
               f"predictions in {where}")
    if outcome.ignored_columns:
        typer.echo(f"columns not used: {', '.join(outcome.ignored_columns)}")
    if outcome.output:
        typer.echo(f"wrote {outcome.output}")
    typer.echo(f"trace a row: govflow trace prediction {outcome.first_prediction_id}; "
               f"the run: govflow trace run {outcome.request_id}")
