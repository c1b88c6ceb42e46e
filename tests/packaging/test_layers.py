"""The house rules of the import graph: no import cycle between modules, and imports point down only
(checks imports nothing of govflow's but errors and canonical; governance never imports flows or web).
Every import statement counts, lazy and type-only ones included.

The layers, bottom first (a module may import its own layer and those below, never above):
errors, canonical < checks < governance < settings, flows < web, api < demo < cli < the root
``govflow/__init__`` (the public API). A new top-level module must be given its layer here."""

from __future__ import annotations

import ast
import os
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "govflow"
LAYERS = (
    ("govflow.errors", "govflow.canonical"),
    ("govflow.checks",),
    ("govflow.governance",),
    ("govflow.settings", "govflow.prefect_server", "govflow.prefect_runner", "govflow.reaper", "govflow.flows"),
    ("govflow.web", "govflow.api"),
    ("govflow.demo",),
    ("govflow.cli",),
)


def modules() -> dict[str, Path]:
    found = {}
    paths = [Path(folder, f) for folder, _, files in os.walk(PACKAGE, followlinks=True)  # the links too
             for f in files if f.endswith(".py")]
    for path in paths:
        parts = path.relative_to(ROOT).with_suffix("").parts
        if "migrations" in parts:
            continue
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    edges: dict[str, set[str]] = {}
    for name, path in known.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("govflow"):
                deps |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                         for a in node.names}
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("govflow")}
        edges[name] = {d for d in deps if d in known and d != name and not name.startswith(d + ".")}
    return edges


def test_the_package_is_seen_whole() -> None:
    names = modules()
    assert {"govflow.checks.fairness", "govflow.governance.ledger.engine", "govflow.cli.main", "govflow.web"} <= set(names)


def test_no_import_cycles() -> None:
    edges = {name: {d for d in deps if d != "govflow"} for name, deps in graph().items()}
    try:
        tuple(TopologicalSorter(edges).static_order())
    except CycleError as e:
        raise AssertionError(f"import cycle: {' -> '.join(e.args[1])}") from None


def test_imports_point_down() -> None:
    upward = []
    for name, deps in graph().items():
        for dep in deps:
            if name.startswith("govflow.checks") and not dep.startswith(("govflow.checks", "govflow.errors", "govflow.canonical")):
                upward.append((name, dep))
            if name.startswith("govflow.governance") and dep.startswith(("govflow.flows", "govflow.web", "govflow.api")):
                upward.append((name, dep))
    assert upward == []


def layer(module: str) -> int | None:
    """The index of ``module``'s layer in `LAYERS` (the root package above all), None when it has none."""
    if module == "govflow":
        return len(LAYERS)
    for index, prefixes in enumerate(LAYERS):
        if any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes):
            return index
    return None


def test_every_module_has_a_layer() -> None:
    assert [name for name in modules() if layer(name) is None] == []


def test_layers_point_down() -> None:
    upward = sorted((name, dep) for name, deps in graph().items() for dep in deps
                    if (layer(dep) or 0) > (layer(name) or 0))
    assert upward == []


def test_demo_never_imports_the_cli() -> None:
    assert sorted((name, dep) for name, deps in graph().items() if name.startswith("govflow.demo")
                  for dep in deps if dep.startswith("govflow.cli")) == []


def test_only_the_entry_point_imports_the_command_tree() -> None:
    """Command modules define functions; `govflow.cli.main` builds the tree (nothing registers itself on import)."""
    assert sorted(name for name, deps in graph().items() if "govflow.cli.main" in deps) == []


def test_a_layer_above_is_refused() -> None:
    """The rule can fail: the demos importing the CLI, or governance importing a flow, sit above their layer."""
    assert (layer("govflow.cli.main") or 0) > (layer("govflow.demo.credit") or 0)
    assert (layer("govflow.flows.train") or 0) > (layer("govflow.governance.ledger.engine") or 0)
    assert (layer("govflow") or 0) > (layer("govflow.cli.main") or 0)
    assert layer("govflow.newroom.thing") is None
