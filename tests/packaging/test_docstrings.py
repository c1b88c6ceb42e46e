"""The docstring examples (``>>>``) run, so the documentation cannot drift from the code.

The modules are found by reading the source for ``>>>`` (nothing is imported to look), and only
those are imported and run: a new example anywhere under govflow/, checks/, governance/ or flows/
is tested without being listed here.
"""

from __future__ import annotations

import doctest
import importlib
import io
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {"govflow": "govflow", "checks": "govflow.checks", "governance": "govflow.governance",
           "flows": "govflow.flows"}
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def modules_with_examples() -> list[str]:
    found = []
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.is_symlink() or "migrations" in path.parts or ">>> " not in path.read_text(encoding="utf-8"):
                continue
            relative = path.relative_to(ROOT / folder).with_suffix("")
            parts = [part for part in relative.parts if part != "__init__"]
            found.append(".".join([package, *parts]) if parts else package)
    return found


MODULES = modules_with_examples()


def test_the_examples_are_found() -> None:
    assert {"govflow", "govflow.canonical", "govflow.checks.policy"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    out = io.StringIO()
    examples = 0
    for test in finder.find(module, name):
        examples += len(test.examples)
        runner.run(test, out=out.write)
    assert examples, f"{name} has '>>> ' in its source but no docstring example doctest can find"
    assert runner.failures == 0, out.getvalue()
