"""Offline validation of OpenLineage events against the spec copied in ``spec/`` (see SOURCE.txt).

The core schema checks a facet only against the base facet; `errors` also checks every run, job,
dataset, input and output facet against its own schema (its ``_schemaURL``), which must be one of
the copied schemas: an event naming a schema we do not hold fails, it is not skipped.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

SPEC = Path(__file__).parent / "spec"
CORE = "https://openlineage.io/spec/2-0-2/OpenLineage.json"


@cache
def _schemas() -> dict[str, Any]:
    found = {}
    for path in sorted(SPEC.rglob("*.json")):
        schema = json.loads(path.read_text())
        found[schema["$id"]] = schema
    return found


@cache
def _validator(url: str) -> Draft202012Validator:
    schemas = _schemas()
    registry = Registry().with_resources((i, Resource.from_contents(s)) for i, s in schemas.items())
    base, _, fragment = url.partition("#")
    if base not in schemas:
        raise KeyError(f"no copied schema for {base}")
    return Draft202012Validator({"$ref": url} if fragment else schemas[base], registry=registry,
                                format_checker=FormatChecker())


def facets(event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every facet of an event, with where it sits."""
    out = [(f"run.{k}", f) for k, f in (event["run"].get("facets") or {}).items()]
    out += [(f"job.{k}", f) for k, f in (event["job"].get("facets") or {}).items()]
    for side, key in (("inputs", "inputFacets"), ("outputs", "outputFacets")):
        for i, ds in enumerate(event.get(side) or []):
            out += [(f"{side}[{i}].{k}", f) for k, f in (ds.get("facets") or {}).items()]
            out += [(f"{side}[{i}].{key}.{k}", f) for k, f in (ds.get(key) or {}).items()]
    return out


def errors(event: dict[str, Any]) -> list[str]:
    """Every schema violation in the event and in each of its facets ([] when valid)."""
    found = [f"event: {e.message}" for e in _validator(event.get("schemaURL", CORE + "#/$defs/RunEvent")).iter_errors(event)]
    for where, facet in facets(event):
        url = facet.get("_schemaURL", "")
        try:
            validator = _validator(url)
        except KeyError as e:
            found.append(f"{where}: {e.args[0]}")
            continue
        found += [f"{where}: {e.message}" for e in validator.iter_errors(facet)]
    return found
