"""What the recording wrapper says about a step: the code and environment it ran in, and its
inputs and outputs as the ledger sees them (fingerprints, data set names and schemas, check results).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import inspect
import os
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from govflow import canonical as canon
from govflow.governance.ledger.fingerprint import fingerprint, frame_schema
from govflow.governance.ledger.runs import EntityRef

KEY_PACKAGES = ("govflow", "prefect", "scikit-learn", "pandas", "numpy", "great-expectations",
                "fairlearn", "evidently", "sqlalchemy")


# -- facts about code and environment, computed once per process --------------------------------

@functools.cache
def environment() -> dict[str, str]:
    versions = {"python": ".".join(map(str, __import__("sys").version_info[:3]))}
    for name in KEY_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


@functools.cache
def _git_commit(folder: str) -> str | None:
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True,
                             timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=folder,
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"git:{sha}{'+dirty' if dirty else ''}" if sha else None


@functools.cache
def code_reference(fn: Callable[..., Any]) -> tuple[str, str | None]:
    """``(code_ref, source_hash)``: git commit where available, else the package version."""
    try:
        source = inspect.getsource(fn)
        folder = str(Path(inspect.getfile(fn)).parent)
    except (OSError, TypeError):
        source, folder = None, os.getcwd()
    ref = _git_commit(folder) or f"govflow {environment().get('govflow', 'unknown')}"
    return ref, hashlib.sha256(source.encode()).hexdigest() if source else None


# -- describing values -------------------------------------------------------------------------

def describe(role: str, value: Any) -> EntityRef:
    """The ledger's view of one input or output."""
    if hasattr(value, "model_dump"):  # a pydantic model, e.g. the config
        kind, fp = fingerprint(value.model_dump(mode="json"))
        return EntityRef(role=role, kind=kind, fingerprint=fp, name=type(value).__name__)
    if hasattr(value, "to_dict") and not isinstance(value, pd.DataFrame | pd.Series):
        kind, fp = fingerprint(value.to_dict())
        return EntityRef(role=role, kind=kind, fingerprint=fp, name=type(value).__name__)
    kind, fp = fingerprint(value)
    if kind == "dataset":
        frame = value if isinstance(value, pd.DataFrame) else value.to_frame()
        return EntityRef(role=role, kind=kind, fingerprint=fp, name=str(frame.attrs.get("govflow:name", role)),
                         schema=frame_schema(frame), row_count=len(frame), uri=frame.attrs.get("govflow:uri"))
    if kind == "file":
        return EntityRef(role=role, kind=kind, fingerprint=fp, name=Path(value).name, uri=str(value))
    return EntityRef(role=role, kind=kind, fingerprint=fp, name=type(value).__name__)


def describe_outputs(value: Any) -> tuple[EntityRef, ...]:
    if value is None:
        return ()
    if isinstance(value, tuple):
        return tuple(describe(f"return[{i}]", item) for i, item in enumerate(value))
    if isinstance(value, dict) and any(isinstance(v, pd.DataFrame) or describe_kind(v) != "value" for v in value.values()):
        return tuple(describe(f"return.{key}", item) for key, item in value.items())
    return (describe("return", value),)


def named(step: str, refs: tuple[EntityRef, ...]) -> tuple[EntityRef, ...]:
    """Data sets without a name of their own (``frame.attrs["govflow:name"]``) are named
    ``<step>.<role>`` (e.g. ``load.return``), not just by the bare role, which every step shares."""
    return tuple(replace(r, name=f"{step}.{r.role}") if r.kind == "dataset" and r.name == r.role else r
                 for r in refs)


def describe_kind(value: Any) -> str:
    return "value" if isinstance(value, str | int | float | bool | None) else fingerprint(value)[0]


def params(bound: inspect.BoundArguments, inputs: tuple[EntityRef, ...]) -> dict[str, Any]:
    """Plain JSON-safe parameters as given; anything else by its fingerprint."""
    fps = {ref.role: ref for ref in inputs}
    params: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        try:
            canon.canonical(value)
            params[name] = value
        except (TypeError, ValueError):
            params[name] = {"fingerprint": fps[name].fingerprint, "kind": fps[name].kind}
    return params


def collect_checks(value: Any) -> list[Any]:
    """Check results inside a step's output: a result, a suite of results, or a tuple/dict of them."""
    if value is None or isinstance(value, str | bytes | pd.DataFrame):
        return []
    if hasattr(value, "passed") and hasattr(value, "subject") and hasattr(value, "kind"):
        return [value]
    results = getattr(value, "results", None)
    if isinstance(results, tuple | list) and all(hasattr(r, "subject") for r in results):
        return list(results)
    if isinstance(value, tuple | list):
        return [r for item in value for r in collect_checks(item)] if len(value) < 50 else []
    if isinstance(value, dict):
        return [r for item in value.values() for r in collect_checks(item)]
    return []
