"""`task` and `flow` keep the recorded function's signature for a type checker (#14 item 5).

The uses below are checked by the project's own mypy run (`make test`); the wrong ones, which must
be refused, are checked by running mypy on a snippet, with the project's configuration.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from govflow.flows.recording import flow, task
from govflow.governance.ledger.engine import Ledger

ROOT = Path(__file__).resolve().parents[2]


@task
def add(a: int, b: int = 1) -> int:
    return a + b


@task(name="labelled")
def label(value: float, *, unit: str) -> str:
    return f"{value} {unit}"


@flow(name="typed")
def typed_flow(n: int) -> str:
    return label(float(add(n)), unit="kg")


def test_a_recorded_function_keeps_its_own_signature(sqlite_recorder: Ledger) -> None:
    total: int = add.fn(2, b=3)  # the recorded function, called without a Prefect run
    shown: str = label.fn(1.5, unit="kg")
    assert (total, shown) == (5, "1.5 kg")
    assert add.name == "add" and label.name == "labelled" and typed_flow.name == "typed"


SNIPPET = '''
from govflow.flows.recording import flow, task


@task
def add(a: int, b: int = 1) -> int:
    return a + b


@task(name="labelled")
def label(value: float, *, unit: str) -> str:
    return f"{value} {unit}"


@flow
def pipeline(n: int) -> str:
    return label(float(add(n)), unit="kg")


right: int = add(1, b=2)
add("one")
label(1.0)
wrong: str = add(1)
pipeline(n="three")
'''


def mypy_errors(code: str, folder: Path) -> list[str]:
    """mypy's errors in ``code`` as ``LINE: error: ...``, checked with the project's configuration.

    On a copy of the project's mypy cache: fast, and safe from a project-wide mypy run writing it meanwhile.
    """
    snippet = folder / f"snippet_{uuid.uuid4().hex}.py"  # a new module: mypy's cache re-reports errors under old paths
    snippet.write_text(code)
    cache = folder / "mypy_cache"
    if (ROOT / ".mypy_cache").is_dir():
        shutil.copytree(ROOT / ".mypy_cache", cache, ignore_dangling_symlinks=True)
    done = subprocess.run([sys.executable, "-m", "mypy", "--config-file", "pyproject.toml", "--cache-dir", str(cache),
                           "--no-error-summary", "--show-error-codes", str(snippet)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    prefix = f"{snippet}:"
    return [line.removeprefix(prefix) for line in done.stdout.splitlines() if line.startswith(prefix)]


def test_mypy_refuses_wrong_arguments_and_a_wrong_result_type(tmp_path: Path) -> None:
    errors = mypy_errors(SNIPPET, tmp_path)
    lines = {int(e.split(":")[0]) for e in errors}
    source = SNIPPET.splitlines()
    assert {source[n - 1] for n in lines} == {'add("one")', "label(1.0)", "wrong: str = add(1)",
                                              'pipeline(n="three")'}, errors or "mypy found no error at all"
    first_error = {int(e.split(":")[0]): e for e in reversed(errors)}
    at = {line: n for n, line in enumerate(source, start=1)}
    assert 'No overload variant of "__call__" of "RecordedTask" matches argument type "str"' in first_error[at['add("one")']]
    assert 'No overload variant of "__call__" of "RecordedTask" matches argument type "float"' in first_error[at["label(1.0)"]]
    assert ('Incompatible types in assignment (expression has type "int", variable has type "str")'
            in first_error[at["wrong: str = add(1)"]])
    assert 'of "RecordedFlow" matches argument type "str"' in first_error[at['pipeline(n="three")']]
