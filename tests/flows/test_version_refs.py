"""NAME:VERSION is parsed in one place: a version is ASCII digits, latest or production; nothing else.

`str.isdigit` accepted '²' (then `int` raised: exit 3) and '١' (Arabic-Indic one: silently version 1).
Also `export -o` where the file cannot be written is exit 2, never exit 3.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from govflow.errors import InputError
from govflow.flows.recording import set_ledger
from govflow.governance.ledger.engine import Ledger
from govflow.governance.registry import versions as registry
from tests.flows import helpers as h

SUFFIXES = {"bundle": "zip", "prov": "json", "openlineage": "jsonl"}
CONFIG = Path(__file__).resolve().parents[2] / "data" / "credit-scoring.govflow.yaml"


@pytest.fixture(scope="module")
def trained(module_ledger: Ledger) -> Iterator[Ledger]:
    set_ledger(module_ledger)
    try:
        assert h.train_model("credit", 60) == "credit:1"
    finally:
        set_ledger(None)
    yield module_ledger


def bad_version(ref: str, version: str) -> str:
    system = ref.rpartition(":")[0]
    return (f"error: '{ref}': version '{version}' is not a version: write a number in the digits 0-9 "
            f"(e.g. {system}:1), {system}:latest or {system}:production\n")


@pytest.mark.parametrize("version", ["²", "١", "１", "+1", " 1", "1.0", "-1", "", "Latest"],
                         ids=["superscript", "arabic-indic", "fullwidth", "plus", "space", "decimal", "negative",
                              "empty", "capitalised"])
@pytest.mark.parametrize("command", [
    ["export", "{ref}", "--format", "prov", "-o", "{out}"],
    ["trace", "model", "{ref}"],
    ["approve", "{ref}", "--as", "Ada", "--role", "model_owner", "--reason", "ok"],
    ["promote", "{ref}"],
    ["diff", "credit:1", "{ref}"],
], ids=["export", "trace", "approve", "promote", "diff"])
def test_non_ascii_and_malformed_versions_are_refused(trained: Ledger, monkeypatch: Any, capsys: Any, tmp_path: Path,
                                                      command: list[str], version: str) -> None:
    ref = f"credit:{version}"
    args = [a.format(ref=ref, out=tmp_path / "out.json") for a in command]
    assert h.cli(monkeypatch, capsys, trained, *args) == (2, "", bad_version(ref, version))
    assert not (tmp_path / "out.json").exists()


def test_the_one_parser() -> None:
    assert registry.parse_ref("credit:12") == ("credit", 12)
    assert registry.parse_ref("credit:007") == ("credit", 7)
    assert registry.parse_ref("credit:latest") == ("credit", "latest")
    assert registry.parse_ref("a:b:production") == ("a:b", "production")
    with pytest.raises(InputError, match="names no version"):
        registry.parse_ref("credit")
    with pytest.raises(InputError, match=r"version '١' is not a version"):
        registry.parse_ref("credit:١")


def test_gate_version_is_refused_before_the_ledger(monkeypatch: Any, capsys: Any, tmp_path: Path) -> None:
    import os
    import sys

    from govflow.cli.main import main

    for name in ("GOVFLOW_HOME", "PREFECT_API_URL", "PREFECT_HOME"):
        if name in os.environ:
            monkeypatch.setenv(name, os.environ[name])
        else:
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    monkeypatch.setattr(sys, "argv", ["govflow", "--home", str(home), "run", "gate", "-c", str(CONFIG), "--version", "²"])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 2
    assert capsys.readouterr().err == bad_version("credit-scoring:²", "²")
    assert not (home / "ledger.db").exists()


# -- export -o -----------------------------------------------------------------------------------

def test_export_creates_missing_folders(trained: Ledger, monkeypatch: Any, capsys: Any, tmp_path: Path) -> None:
    out = tmp_path / "new" / "folder" / "credit-1.json"
    code, stdout, err = h.cli(monkeypatch, capsys, trained, "export", "credit:1", "--format", "prov", "-o", str(out))
    assert (code, err) == (0, "")
    assert stdout.startswith(f"wrote the lineage of credit:1 as W3C PROV-JSON to {out}:")


@pytest.mark.parametrize("fmt", ["bundle", "prov", "openlineage"])
def test_export_into_a_path_under_a_file(trained: Ledger, monkeypatch: Any, capsys: Any, tmp_path: Path,
                                         fmt: str) -> None:
    (tmp_path / "afile").write_text("")
    out = tmp_path / "afile" / "x.zip"
    assert h.cli(monkeypatch, capsys, trained, "export", "credit:1", "--format", fmt, "-o", str(out)) == (
        2, "", f"error: -o {out}: cannot create the folder {tmp_path / 'afile'}: {tmp_path / 'afile'} is a file; "
               "choose another path\n")


@pytest.mark.parametrize("fmt", ["bundle", "prov", "openlineage"])
def test_export_onto_a_folder(trained: Ledger, monkeypatch: Any, capsys: Any, tmp_path: Path, fmt: str) -> None:
    assert h.cli(monkeypatch, capsys, trained, "export", "credit:1", "--format", fmt, "-o", str(tmp_path)) == (
        2, "", f"error: -o {tmp_path}: is a folder; give the path of the file to write, e.g. "
               f"{tmp_path / ('export.' + SUFFIXES[fmt])}\n")
    assert not list(tmp_path.parent.glob("*.partial"))
