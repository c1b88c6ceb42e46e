"""The `govflow` command line: the whole tree of commands, built here explicitly, and the entry point.

Each noun module (`govflow.cli.run`, `.registry`, `.lineage`, ...) defines plain functions with typer
annotations and imports `govflow.cli.context`, never this module; nothing registers itself on import.
This file is the map: read it top to bottom to see every command.

To add a command, one line below, in the panel it belongs to::

    app.command("name", rich_help_panel=AUDIT)(module.function)        # govflow name
    run_app.command("name")(module.function)                           # govflow run name

To add a noun group (``govflow noun verb``)::

    noun_app = group("noun", "What the noun is, in one line.", AUDIT)
    noun_app.command("verb")(module.function)

Module imports here stay light (typer and the standard library): heavy libraries are imported inside
the command functions, so ``govflow --help`` stays fast.

Exit codes (DESIGN.md): 0 success or pass; 1 a compliance check failed or blocked; 2 bad input,
usage, config or unreadable data; 3 an internal error (one line here, the traceback in
``<home>/govflow.log``).
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from govflow.cli import (
    data,
    demo,
    docs,
    explain,
    gap,
    incident,
    keys,
    ledger,
    lineage,
    monitor,
    policy,
    predictions,
    recommender,
    recommender_checks,
    register,
    registry,
    run,
    serve,
    server,
    versions,
)
from govflow.cli.context import AnchorAtExit, Context, resolve_home
from govflow.cli.group import RootGroup
from govflow.cli.output import paint
from govflow.errors import GovflowError

# The panels of `govflow --help`, in the order a model lives.
BUILD = "Build and ship a model"
OPERATE = "Serve and watch it"
AUDIT = "Audit and explain"
PRIVACY = "Personal data and access"
TRY = "Scenarios and data sets"

app = typer.Typer(cls=RootGroup, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Compliance and traceability for machine-learning models.")


def group(name: str, help_text: str, panel: str) -> typer.Typer:
    """A noun group under `govflow`, shown in ``panel`` of the help."""
    noun_app = typer.Typer(help=help_text, no_args_is_help=True)
    app.add_typer(noun_app, name=name, rich_help_panel=panel)
    return noun_app


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"govflow {version('govflow')}")
        raise typer.Exit()


@app.callback()
def _global(
    typer_ctx: typer.Context,
    db: Annotated[str | None, typer.Option("--db", help="Ledger URL (beats GOVFLOW_DB_URL).")] = None,
    home: Annotated[Path | None, typer.Option("--home", help="govflow home (default ./.govflow or GOVFLOW_HOME).")] = None,
    _version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_print_version,
                                           help="Print govflow's version and exit.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", help="Also show the libraries' log lines and warnings "
                                          "(Prefect, Great Expectations, ...); GOVFLOW_VERBOSE=1 does too.")] = False,
) -> None:
    from govflow import settings

    if verbose:
        os.environ[settings.VERBOSE_ENV] = "1"
    resolved = resolve_home(home)
    settings.configure(resolved)
    typer_ctx.obj = Context(db=db, home=resolved)
    typer_ctx.with_resource(AnchorAtExit(typer_ctx.obj))  # the head a writing command leaves is anchored


# -- Build and ship a model ----------------------------------------------------------------------
app.command("init", rich_help_panel=BUILD)(registry.init)
run_app = group("run", "Run a recorded flow for one AI system.", BUILD)
run_app.command("train")(run.run_train)
run_app.command("gate")(run.run_gate)
run_app.command("score")(run.run_score)
run_app.command("monitor")(monitor.run_monitor)
run_app.command("incident")(monitor.run_incident)
run_app.command("fleet")(monitor.run_fleet)
app.command("register", rich_help_panel=BUILD)(register.register)
app.command("approve", rich_help_panel=BUILD)(registry.approve)
app.command("promote", rich_help_panel=BUILD)(registry.promote)
app.command("versions", rich_help_panel=BUILD)(versions.versions)
app.command("diff", rich_help_panel=BUILD)(monitor.diff)
policy_app = group("policy", "The policy in force for a system: approve a change, show its history.", BUILD)
policy_app.command("approve")(policy.policy_approve)
policy_app.command("history")(policy.policy_history)
policy_app.command("show")(policy.policy_show)

# -- Serve and watch it --------------------------------------------------------------------------
app.command("serve", rich_help_panel=OPERATE)(serve.serve)
token_app = group("token", "API tokens for `govflow serve` (stored hashed).", OPERATE)
token_app.command("create")(serve.token_create)
token_app.command("list")(serve.token_list)
token_app.command("revoke")(serve.token_revoke)
app.command("outcomes", rich_help_panel=OPERATE)(monitor.outcomes)
incident_app = group("incident", "Report, remediate, review and close incidents.", OPERATE)
incident_app.command("notify")(incident.notify)
incident_app.command("acknowledge")(incident.acknowledge)
incident_app.command("judge")(incident.judge)
incident_app.command("remediate")(incident.remediate)
incident_app.command("done")(incident.done)
incident_app.command("affected")(incident.affected)
incident_app.command("close")(incident.close)
incident_app.command("show")(incident.show)
incident_app.command("list")(incident.list_incidents)
app.command("ui", rich_help_panel=OPERATE)(lineage.ui)
server_app = group("server", "The local Prefect server the flows run against (started on first need).", OPERATE)
server_app.command("start")(server.server_start)
server_app.command("stop")(server.server_stop)
server_app.command("status")(server.server_status)

# -- Audit and explain ---------------------------------------------------------------------------
app.command("verify", rich_help_panel=AUDIT)(ledger.verify)
trace_app = group("trace", "Walk the lineage graph upstream and downstream.", AUDIT)
trace_app.command("model")(lineage.trace_model)
trace_app.command("dataset")(lineage.trace_dataset)
trace_app.command("run")(lineage.trace_run)
trace_app.command("prediction")(serve.trace_prediction)
app.command("export", rich_help_panel=AUDIT)(lineage.export)
predictions_app = group("predictions", "Search the prediction log; export it to a log store.", AUDIT)
predictions_app.command("search")(predictions.search)
predictions_app.command("export")(predictions.export)
app.command("explain", rich_help_panel=AUDIT)(explain.explain)
app.command("gap", rich_help_panel=AUDIT)(gap.gap_command)
evidence_app = group("evidence", "Documents people write, recorded as evidence.", AUDIT)
evidence_app.command("attach")(gap.evidence_attach)
evidence_app.command("kinds")(docs.evidence_kinds)
evidence_app.command("template")(docs.evidence_template)
app.command("docs", rich_help_panel=AUDIT)(docs.docs)
keys_app = group("keys", "Keys that sign the chain heads published to anchors.", AUDIT)
keys_app.command("create")(keys.keys_create)

# -- Personal data and access --------------------------------------------------------------------
retention_app = group("retention", "Purge personal data in prediction payloads after the retention period.", PRIVACY)
retention_app.command("apply")(gap.retention_apply)
retention_app.command("list")(gap.retention_list)
app.command("erase", rich_help_panel=PRIVACY)(gap.erase)
access_app = group("access", "Database roles for auditors (PostgreSQL).", PRIVACY)
access_app.command("create-auditor-role")(gap.access_create)
access_app.command("drop-role")(gap.access_drop)

# -- Scenarios and data sets ---------------------------------------------------------------------
app.command("demo", rich_help_panel=TRY)(demo.demo)
recommender_app = group("recommender", "The recommendation scenario (MovieLens-format ratings).", TRY)
recommender_app.command("train")(recommender.train)
recommender_app.command("recommend")(recommender.recommend)
recommender_app.command("check")(recommender_checks.check)
data_app = group("data", "Data sets govflow cannot ship.", TRY)
data_app.command("fetch")(data.fetch)


# -- the entry point -----------------------------------------------------------------------------

def _log_path() -> Path:
    return resolve_home(_home_from_argv()) / "govflow.log"


def _home_from_argv() -> str | None:
    argv = sys.argv
    for i, arg in enumerate(argv):
        if arg == "--home" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--home="):
            return arg.split("=", 1)[1]
    return None


INTERRUPTED = ("interrupted (Ctrl-C): stopped; each ledger write is one transaction, so what it holds is whole "
               "(`govflow verify` checks it)")


def main() -> None:
    """Entry point: one line on screen for any error, never a traceback."""
    ctrl_c: list[bool] = []

    def on_ctrl_c(signum: int, frame: Any) -> None:  # typer turns Ctrl-C into a silent exit 130
        ctrl_c.append(True)
        signal.default_int_handler(signum, frame)

    signal.signal(signal.SIGINT, on_ctrl_c)  # `run gate` puts its own in while its gate runs
    try:
        code = app(standalone_mode=False)
        # Without standalone mode, typer returns a `typer.Exit`'s code instead of exiting with it.
        if isinstance(code, int) and code:
            if ctrl_c and code == 130:
                typer.echo(INTERRUPTED, err=True)
            sys.exit(code)
    except GovflowError as e:
        typer.echo(f"{paint('error:', good=False)} {e}", err=True)  # red on a terminal only
        sys.exit(e.exit_code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(2)
    except Exception as e:  # noqa: BLE001 - the one place that turns surprises into exit 3
        if hasattr(e, "show") and hasattr(e, "exit_code"):  # a usage error from the parser
            e.show()
            sys.exit(2)
        log = _write_traceback(traceback.format_exc())
        reason = (str(e).strip().splitlines() or [""])[0]  # one line: SQLAlchemy errors span several
        where = f"traceback in {log}" if log else "the traceback could not be written"
        typer.echo(f"internal error: {type(e).__name__}: {reason} ({where})", err=True)
        sys.exit(3)


def _write_traceback(text: str) -> Path | None:
    """Append a traceback to ``<home>/govflow.log``, else (home unusable) to the temp dir's."""
    stamp = datetime.now(UTC).isoformat()
    for log in (_log_path(), Path(tempfile.gettempdir()) / "govflow.log"):
        try:
            log.parent.mkdir(parents=True, exist_ok=True)
            with open(log, "a", encoding="utf-8") as handle:
                handle.write(f"{stamp} internal error\n{text}\n")
            return log
        except OSError:
            continue
    return None


if __name__ == "__main__":
    main()
