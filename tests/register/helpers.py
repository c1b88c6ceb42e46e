"""The command line in this process, and the files a team would bring (models fitted outside govflow)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import joblib
import pytest
import skops.io as sio

from . import models

NAME = "credit-scoring"


def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    """`govflow ARGS` through the real entry point, in this process: (exit code, stdout, stderr)."""
    from govflow.cli.main import main

    for name in ("GOVFLOW_HOME", "PREFECT_API_URL", "PREFECT_HOME"):  # the CLI sets these: restore them after
        if name in os.environ:
            monkeypatch.setenv(name, os.environ[name])
        else:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "argv", ["govflow", *map(str, args)])
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


class Files:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.train, self.test = models.split(folder)
        self.config = folder / "govflow.yaml"
        self.config.write_text(models.config_text(self.train), encoding="utf-8")
        model = models.fitted(self.train)
        self.skops = folder / "model.skops"
        sio.dump(model, self.skops)
        self.joblib = folder / "model.joblib"
        joblib.dump(model, self.joblib)

    def register(self, home: Path, model: Path, *more: str | Path) -> list[str | Path]:
        return ["--home", home, "register", NAME, "--model", model, "--train", self.train, "--test", self.test,
                "-c", self.config, *more]
