"""The command tree: built explicitly, grouped by noun in `--help`, fast to load, flags shown as flags,
`--version`, shell completion, and the global options accepted after the command too."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from govflow.cli.group import hoist_global_options
from govflow.cli.main import AUDIT, BUILD, OPERATE, PRIVACY, TRY, app
from tests.cli.helpers import GOVFLOW, govflow

PANELS = (BUILD, OPERATE, AUDIT, PRIVACY, TRY)
HEAVY = ("prefect", "sklearn", "pandas", "great_expectations", "evidently", "sqlalchemy", "fairlearn", "numpy")
NO_LEDGER = ("error: there is no ledger at {home}/ledger.db: verify never creates one. Point --db (or "
             "GOVFLOW_DB_URL) or --home at the ledger to verify.\n")


def command_paths(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, sub in getattr(command, "commands", {}).items():
        paths += command_paths(sub, (*prefix, name))
    return paths


def test_help_is_a_map_grouped_by_noun() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0
    positions = [result.output.index(f"─ {panel} ") for panel in PANELS]
    assert positions == sorted(positions)  # the panels in the order a model lives
    build = result.output[positions[0]:positions[1]]
    for command in ("init", "run ", "register", "approve", "promote", "versions"):
        assert f"│ {command}" in build
    audit = result.output[positions[2]:positions[3]]
    for command in ("verify", "trace", "export", "gap"):
        assert f"│ {command}" in audit
    assert "╭─ Commands" not in result.output  # every command sits in a panel


def test_no_flag_shows_bool_in_any_help() -> None:
    root = typer.main.get_command(app)
    paths = command_paths(root)
    assert ("run", "train") in paths and ("trace", "prediction") in paths and ("versions",) in paths
    for path in paths:
        result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "100"})
        assert result.exit_code == 0, (path, result.output)
        assert "<bool>" not in result.output, path
        assert "--help" in result.output, path
    result = CliRunner().invoke(app, ["verify", "--help"], env={"COLUMNS": "100"})
    assert "<str>" in result.output  # options that take a value still say which kind


def test_version() -> None:
    done = govflow("--version")
    assert (done.code, done.out, done.err) == (0, f"govflow {version('govflow')}\n", "")


def test_shell_completion_completes_commands_and_subcommands() -> None:
    def complete(words: str, cword: int) -> list[str]:
        env = {**os.environ, "_GOVFLOW_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
        done = subprocess.run([GOVFLOW], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    assert complete("govflow ver", 1) == ["versions", "verify"]
    assert complete("govflow run t", 2) == ["train"]
    assert "--json" in complete("govflow versions credit --", 3)


def test_help_loads_no_heavy_library() -> None:
    probe = "import sys, govflow.cli.main; print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    loaded = set(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                                timeout=60).stdout.split())
    assert "typer" in loaded
    assert sorted(loaded & set(HEAVY)) == []


def test_a_misspelt_config_key_is_reported_before_any_heavy_import(tmp_path: Path) -> None:
    shipped = Path(__file__).resolve().parents[2] / "data" / "credit-scoring.govflow.yaml"
    config = tmp_path / "govflow.yaml"  # the credit config names its age bins: labels are checked too
    config.write_text(shipped.read_text().replace("  target: creditability", "  targett: creditability"))
    probe = ("import sys\nfrom govflow.cli.main import main\n"
             f"sys.argv = ['govflow', '--home', {str(tmp_path / 'home')!r}, 'run', 'train', '-c', {str(config)!r}]\n"
             "try:\n    main()\nexcept SystemExit as end:\n    code = end.code\n"
             "print(code, ' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    code, *loaded = done.stdout.split()
    assert code == "2" and "data.target: required key is missing" in done.stderr, done
    assert sorted(set(loaded) & set(HEAVY)) == []


def test_global_options_after_the_command(tmp_path: Path) -> None:
    home = tmp_path / "home"
    before = govflow("--home", str(home), "verify")
    for args in (("verify", "--home", str(home)), ("verify", f"--home={home}")):
        after = govflow(*args)
        assert (after.code, after.out, after.err) == (before.code, before.out, before.err)
    assert (before.code, before.err) == (2, NO_LEDGER.format(home=home))
    for flagged in (("verify", "--verbose", "--home", str(home)), ("--verbose", "--home", str(home), "verify")):
        assert govflow(*flagged).err == before.err  # a global flag after the command as before it
    assert govflow("--json", "verify", "--home", str(home)).err == govflow("verify", "--json", "--home", str(home)).err
    done = govflow("trace", "model", "credit:1", "--db", f"sqlite:///{tmp_path / 'none.db'}", "--home", str(home))
    assert done.code == 2 and "no model versions recorded for system 'credit'" in done.err, done


@pytest.mark.parametrize(("args", "expected"), [
    (["demo", "--home", "X"], ["--home", "X", "demo"]),
    (["--db", "D", "run", "train", "-c", "g.yaml", "--home", "H"], ["--db", "D", "--home", "H", "run", "train", "-c", "g.yaml"]),
    (["run", "gate", "--home=H", "--version", "2"], ["--home=H", "run", "gate", "--version", "2"]),
    # an option's value is never taken for a global option, nor anything after --
    (["approve", "c:1", "--reason", "--home", "--as", "A"], ["approve", "c:1", "--reason", "--home", "--as", "A"]),
    (["versions", "--", "--home", "X"], ["versions", "--", "--home", "X"]),
    # --home with no value is left for the parser to refuse
    (["verify", "--home"], ["verify", "--home"]),
    (["no-such-command", "--home", "X"], ["no-such-command", "--home", "X"]),
    # a flag of the command written before it moves after it; --verbose (the root's) moves in front
    (["--json", "--home", "H", "verify", "--verbose"], ["--home", "H", "--verbose", "verify", "--json"]),
    (["--db", "--json", "run", "gate", "--json"], ["--db", "--json", "run", "gate", "--json"]),
], ids=["demo", "subcommand", "equals", "option-value", "double-dash", "no-value", "unknown", "command-flag-first",
        "a-value-stays"])
def test_where_global_options_move(args: list[str], expected: list[str]) -> None:
    assert hoist_global_options(typer.main.get_command(app), args) == expected  # type: ignore[arg-type]


def test_the_cli_home_rule_is_the_ledgers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from govflow.cli.context import resolve_home
    from govflow.governance.ledger import engine

    monkeypatch.chdir(tmp_path)
    for value in (None, "rel/home", str(tmp_path / "abs")):
        assert resolve_home(value) == engine.resolve_home(value)
    monkeypatch.setenv("GOVFLOW_HOME", "from-env")
    assert resolve_home(None) == engine.resolve_home(None) == tmp_path / "from-env"


def test_a_global_flag_moves_too_and_help_stays() -> None:
    """Any option of the root callback moves (a flag alone, an option with its value); --help stays put."""
    from govflow.cli.group import RootGroup

    tool = typer.Typer(cls=RootGroup)

    @tool.callback()
    def root(quiet: bool = typer.Option(False, "--quiet"), home: str = typer.Option("", "--home")) -> None:
        """A root with a global flag."""

    @tool.command()
    def status(name: str = typer.Option("", "--name")) -> None:
        """A command."""

    @tool.command()
    def other() -> None:
        """Another."""

    command = typer.main.get_command(tool)
    moved = hoist_global_options(command, ["status", "--name", "--quiet", "--quiet", "--home", "H", "--help"])  # type: ignore[arg-type]
    assert moved == ["--quiet", "--home", "H", "status", "--name", "--quiet", "--help"]
    result = CliRunner().invoke(tool, ["status", "--quiet", "--home", "H"])
    assert result.exit_code == 0, result.output
