"""Run `govflow ARGS` through its real entry point (`govflow.cli.main.main`) and capture what it prints."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "credit-relaxed.govflow.yaml"  # a policy under which the bundled credit model passes its gate
GOVFLOW = str(Path(sys.executable).with_name("govflow"))


@dataclass(frozen=True)
class Done:
    code: int
    out: str
    err: str


def govflow(*args: str, env: dict[str, str] | None = None) -> Done:
    """`govflow ARGS` in this process; the environment (which the CLI sets up) is restored afterwards."""
    from govflow.cli.main import main

    saved_env, saved_argv = dict(os.environ), sys.argv
    os.environ.update(env or {})
    sys.argv = ["govflow", *args]
    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    finally:
        sys.argv = saved_argv
        os.environ.clear()
        os.environ.update(saved_env)
    return Done(code, out.getvalue(), err.getvalue())
