"""The `govflow` command line: parse, call `governance/` or a flow, print. Nothing else lives here.

Exit codes (DESIGN.md): 0 success or pass; 1 a compliance check failed or blocked; 2 bad input,
usage, config or unreadable data; 3 an internal error (one line here, the traceback in
``<home>/govflow.log``).
"""

from __future__ import annotations

import importlib
import sys
import tempfile
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from govflow.errors import GovflowError
from govflow.governance.ledger.engine import Ledger, resolve_home

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Compliance and traceability for machine-learning models.")


@dataclass
class Context:
    db: str | None
    home: Path
    _ledger: Ledger | None = field(default=None, repr=False)
    opened_head: tuple[int, str] | None = None  # the head when this command opened the ledger (anchoring)
    anchors_config: Any = None  # the loaded govflow.yaml, whose anchors: section applies (govflow.flows.anchoring)

    def ledger(self) -> Ledger:
        if self._ledger is None:
            self._ledger = Ledger.open(self.db, self.home)
            from govflow.flows.anchoring import head_or_none

            self.opened_head = head_or_none(self._ledger)
        return self._ledger

    def anchor_settings(self) -> Any:
        """The anchors in force: GOVFLOW_ANCHORS, else the anchors: section of the config loaded, else heads.log."""
        from govflow.governance.ledger.anchor_settings import resolve

        config = self.anchors_config
        if config is None:
            return resolve()
        return resolve(config.anchors, Path(config.base_dir), "govflow.yaml")


def ctx(typer_ctx: typer.Context) -> Context:
    return typer_ctx.obj  # type: ignore[no-any-return]


@app.callback()
def _global(
    typer_ctx: typer.Context,
    db: Annotated[str | None, typer.Option("--db", help="Ledger URL (beats GOVFLOW_DB_URL).")] = None,
    home: Annotated[Path | None, typer.Option("--home", help="govflow home (default ./.govflow or GOVFLOW_HOME).")] = None,
) -> None:
    from govflow import settings

    resolved = resolve_home(home)
    settings.configure(resolved)
    typer_ctx.obj = Context(db=db, home=resolved)
    from govflow.flows.anchoring import AnchorOnExit

    typer_ctx.with_resource(AnchorOnExit(typer_ctx.obj))  # the head a writing command leaves is anchored


@app.command()
def verify(
    typer_ctx: typer.Context,
    head: Annotated[str | None, typer.Option("--head", help="A chain head exported earlier that must still be in the chain.")] = None,
    anchors: Annotated[bool, typer.Option("--anchors", help="Also check every configured anchor (GOVFLOW_ANCHORS or -c's anchors:), saying which disagrees.")] = False,
    config: Annotated[Path | None, typer.Option("-c", "--config", help="A govflow.yaml whose anchors: section lists the anchors.")] = None,
) -> None:
    """Recompute the hash chain, check every history row and re-hash every stored file."""
    from govflow.flows import anchoring
    from govflow.governance.ledger.verify import Finding, open_for_verify
    from govflow.governance.ledger.verify import verify as run_verify

    c = ctx(typer_ctx)
    ledger = open_for_verify(c.db, c.home)  # read-only (never created nor migrated), and the ledger this home recorded
    if config is not None:
        from govflow.governance.config import load_config

        c.anchors_config = load_config(config)
    anchor_settings = c.anchor_settings()
    report = run_verify(ledger, [head] if head else [])
    if not report.has_entry(1):  # no genesis entry, no ledger id: no anchor can be matched; the chain says why
        _tampering_found(report)
    checked = anchoring.check(ledger, anchor_settings, everywhere=anchors)
    for warning in checked.warnings:
        typer.echo(f"warning: {warning}", err=True)
    report.findings += [Finding(None, f"anchor {d.sink}: {d.head or 'no head'}", d.problem) for d in checked.disagreements]
    purged = f", {report.purged_payloads} prediction payload(s) purged under tombstones" if report.purged_payloads else ""
    if report.intact:
        anchoring.record_verified(ledger, report.head_seq, report.head_hash, anchor_settings)
        typer.echo(
            f"ledger intact: {report.entries} entries, {report.rows} rows, {report.artifacts} stored files checked{purged}\n"
            f"head {report.head_seq} {report.head_hash}"
        )
        if anchors:
            typer.echo("anchors agree: " + "; ".join(f"{name} ({count} head(s), latest seq {checked.latest[name]})"
                                                     for name, count in checked.checked.items()))
        return
    _tampering_found(report)


def _tampering_found(report: Any) -> NoReturn:
    ordered = report.ordered()
    typer.echo(f"TAMPERING FOUND: {len(ordered)} finding(s); first broken: {ordered[0]}", err=True)
    for finding in ordered[1:20]:
        typer.echo(f"  {finding}", err=True)
    if len(ordered) > 20:
        typer.echo(f"  ... and {len(ordered) - 20} more", err=True)
    typer.echo(f"head {report.head_seq} {report.head_hash} (not trusted)")
    raise typer.Exit(1)


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


def main() -> None:
    """Entry point: one line on screen for any error, never a traceback."""
    try:
        code = app(standalone_mode=False)
        # Without standalone mode, typer returns a `typer.Exit`'s code instead of exiting with it.
        if isinstance(code, int) and code:
            sys.exit(code)
    except GovflowError as e:
        typer.echo(f"error: {e}", err=True)
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


# Commands defined in their own modules attach themselves to `app` when imported.
COMMAND_MODULES = ("govflow.cli.run", "govflow.cli.registry", "govflow.demo.credit", "govflow.cli.lineage", "govflow.cli.serve", "govflow.cli.data", "govflow.cli.recommender", "govflow.cli.gap",
                   "govflow.cli.monitor", "govflow.cli.keys", "govflow.cli.register")
for _module in COMMAND_MODULES:
    importlib.import_module(_module)

if __name__ == "__main__":
    main()
