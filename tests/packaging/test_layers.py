"""The house rules of the import graph: no import cycle between modules, and imports point down only
(checks imports nothing of govflow's but errors and canonical; governance never imports flows or web).
Every import statement counts, lazy and type-only ones included."""

from __future__ import annotations

import ast
import os
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "govflow"


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
