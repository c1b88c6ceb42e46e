"""Golden-file comparison for generated documents.

Ids, fingerprints, hashes and timestamps change from run to run; `normalise` replaces each with a
placeholder numbered by first appearance (``<uuid-3>``), so the golden file still shows which
references point at the same record. ``GOVFLOW_UPDATE_GOLDEN=1 pytest tests/documents`` rewrites the
golden files; review the diff before committing it.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"
UPDATE_ENV = "GOVFLOW_UPDATE_GOLDEN"
PATTERNS = [  # order matters: a uuid and a fingerprint (fp1:, fp2:) hold hex runs the later patterns would take
    ("uuid", re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")),
    ("fp", re.compile(r"\bfp\d+:[0-9a-f]{64}\b")),
    ("sha256", re.compile(r"\b[0-9a-f]{64}\b")),
    ("ts", re.compile(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})")),
]


def normalise(text: str) -> str:
    for label, pattern in PATTERNS:
        seen: dict[str, str] = {}

        def placeholder(match: re.Match[str], seen: dict[str, str] = seen, label: str = label) -> str:
            return seen.setdefault(match.group(0), f"<{label}-{len(seen) + 1}>")

        text = pattern.sub(placeholder, text)
    return text


def updating() -> bool:
    return os.environ.get(UPDATE_ENV, "") not in ("", "0", "false")


def compare(name: str, actual: str) -> None:
    """Assert the normalised text equals the golden file NAME (or rewrite it when updating)."""
    path = GOLDEN / name
    text = normalise(actual)
    if updating():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"golden file {path} is missing; create it with {UPDATE_ENV}=1", pytrace=False)
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True),
                                            f"golden/{name}", "rendered", n=2))
        pytest.fail(f"{name} differs from its golden file (rewrite with {UPDATE_ENV}=1 if intended):\n{diff}",
                    pytrace=False)
