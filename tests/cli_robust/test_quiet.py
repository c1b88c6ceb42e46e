"""A quiet terminal: library log lines and warnings off screen unless --verbose / GOVFLOW_VERBOSE (#17 item 6)."""

from __future__ import annotations

import subprocess
import sys

import pytest

# What Great Expectations does on import (sets its module logger to INFO) and then logs, and the
# warning Prefect gives on a new home, under the handler a library would have installed.
SCRIPT = """
import logging, sys, warnings
from govflow import settings
settings.quiet()
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(message)s")
gx = logging.getLogger("great_expectations.data_context.types.base")
gx.setLevel(logging.INFO)
gx.info("Created temporary directory '/tmp/x' for ephemeral docs site")
warnings.warn_explicit("Failed to create the Prefect home directory at /h/prefect", UserWarning,
                       "context.py", 1113, module="prefect.context")
gx.error("a real error still shows")
"""


@pytest.mark.parametrize("verbose", [False, True])
def test_library_lines_only_with_verbose(verbose: bool) -> None:
    env = {"PATH": "/usr/bin:/bin", **({"GOVFLOW_VERBOSE": "1"} if verbose else {})}
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, check=True)
    shown = result.stderr.splitlines()
    assert ("great_expectations.data_context.types.base a real error still shows" in shown)
    noisy = [line for line in shown if "Created temporary directory" in line or "Prefect home directory" in line]
    assert len(noisy) == (2 if verbose else 0), shown
