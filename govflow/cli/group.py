"""The root command's own behaviour: global options also after the command, flags shown as flags.

`govflow demo --home X` means `govflow --home X demo`: the root's own options (``--db``, ``--home``,
``--verbose``, and any global flag added to its callback) are moved in front of the command path before
parsing, unless the command has an option of that name itself; and a flag of the command written
before it (`govflow --json verify`) is moved after it. ``--help``, ``--version`` and the completion
options stay where they are. Boolean flags and ``--help`` show no ``<bool>`` in help: they take no value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import typer
from typer.core import TyperGroup, TyperOption

STAY = ("--help", "--version", "--install-completion", "--show-completion")  # about the command where they stand


def _options(command: Any) -> Iterable[TyperOption]:
    return (p for p in command.params if isinstance(p, TyperOption))


def _takes_value(command: Any) -> set[str]:
    """The option names of ``command`` whose next token is their value."""
    names: set[str] = set()
    for option in _options(command):
        if not option.is_flag and not option.count:
            names.update(option.opts)
    return names


def _names(command: Any) -> set[str]:
    return {name for option in _options(command) for name in (*option.opts, *option.secondary_opts)}


def _skip_options(command: Any, args: Sequence[str], start: int) -> int:
    """The index of the first token from ``start`` that is neither an option of ``command`` nor its value."""
    valued = _takes_value(command)
    i = start
    while i < len(args) and args[i].startswith("-") and args[i] != "--":
        i += 2 if args[i] in valued else 1
    return i


def hoist_global_options(root: TyperGroup, args: list[str]) -> list[str]:
    """``args`` with the root's options written after the command moved in front of it."""
    start = _skip_options(root, args, 0)
    root_valued = _takes_value(root)
    command: Any = root
    i = start
    while isinstance(command, TyperGroup) and i < len(args):
        sub = command.commands.get(args[i])
        if sub is None:
            break
        command, i = sub, _skip_options(sub, args, i + 1) if isinstance(sub, TyperGroup) else i + 1
    own, valued = _names(command), _takes_value(command)
    hoisted = _names(root) - set(STAY)
    moved: list[str] = []
    kept: list[str] = []
    rest = args[i:]
    k = 0
    while k < len(rest):
        token = rest[k]
        name, eq, _ = token.partition("=")
        if token == "--":
            kept += rest[k:]
            break
        needs_value = name in root_valued and not eq
        if name in hoisted and name not in own and (not needs_value or k + 1 < len(rest)):
            width = 2 if needs_value else 1
            moved += rest[k:k + width]
            k += width
            continue
        width = 2 if token in valued else 1
        kept += rest[k:k + width]
        k += width
    leading, early = _command_flags_before(root, command, args[:start])
    return [*leading, *moved, *args[start:i], *early, *kept]


def _command_flags_before(root: TyperGroup, command: Any, leading: list[str]) -> tuple[list[str], list[str]]:
    """``govflow --json verify``: a flag of the command (not the root's) written before it, moved after it."""
    flags = {name for option in _options(command) if option.is_flag for name in (*option.opts, *option.secondary_opts)}
    flags -= _names(root)
    valued = _takes_value(root)
    stay: list[str] = []
    early: list[str] = []
    k = 0
    while k < len(leading):
        width = 2 if leading[k] in valued else 1
        (early if width == 1 and leading[k] in flags else stay).extend(leading[k:k + width])
        k += width
    return stay, early


def show_flags_as_flags(command: Any) -> None:
    """No ``<bool>`` after a flag in help (``--json``, ``--help``): clear the type shown, everywhere below."""
    for option in _options(command):
        if option.is_flag and option.metavar is None:
            option.metavar = ""
    help_option = command.get_help_option(typer.Context(command))
    if help_option is not None:
        help_option.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        show_flags_as_flags(sub)


class RootGroup(TyperGroup):
    """`govflow` itself (``typer.Typer(cls=RootGroup)``); typer builds it with the whole tree below it,
    then adds the completion options: the help is tidied when the arguments are parsed, once all are in."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        show_flags_as_flags(self)
        return super().parse_args(ctx, hoist_global_options(self, list(args)))
