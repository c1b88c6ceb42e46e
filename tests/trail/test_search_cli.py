"""`govflow predictions search` (table, --json, --csv, --all) and `govflow explain` through the real CLI."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from govflow.cli.main import app
from govflow.errors import InputError
from govflow.governance.ledger.engine import Ledger
from tests.trail.explain_helpers import config_with, in_production, requests, serve


def cli(ledger: Ledger, *args: str) -> Result:
    url = ledger.engine.url.render_as_string(hide_password=False)
    return CliRunner().invoke(app, ["--home", str(ledger.home), "--db", url, *args])


@pytest.fixture
def logged(ledger: Ledger) -> list[tuple[str, dict[str, Any]]]:
    in_production(ledger, config_with())
    return serve(ledger, 9)


def test_search_json_csv_and_pages(ledger: Ledger, logged: list[tuple[str, dict[str, Any]]]) -> None:
    ages = [r["sensitive"]["age_in_years"] for r in requests(9)]
    expected = {pid for (pid, out), age in zip(logged, ages) if out["favourable"] is False and age < 40}
    assert expected
    result = cli(ledger, "predictions", "search", "--system", "credit-scoring", "--version", "1",
                 "--decision", "unfavourable", "--group", "age_in_years<40", "--json")
    assert result.exit_code == 0, result.output
    assert {p["id"] for p in json.loads(result.stdout)["predictions"]} == expected
    as_csv = cli(ledger, "predictions", "search", "--limit", "4", "--csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert len(rows) == 4 and rows[0]["model_version"] == "credit-scoring:1"
    assert {r["id"] for r in rows} <= {pid for pid, _ in logged}
    table = cli(ledger, "predictions", "search", "--limit", "4")
    assert table.stdout.splitlines()[-1].startswith("4 shown; next page: --cursor ")
    cursor = table.stdout.splitlines()[-1].rsplit(" ", 1)[1]
    rest = json.loads(cli(ledger, "predictions", "search", "--limit", "4", "--cursor", cursor, "--all", "--json").stdout)
    assert len(rest["predictions"]) == 5 and rest["next_cursor"] is None
    assert cli(ledger, "predictions", "search", "--subject", "nobody").stdout.strip() == "no predictions match"


def test_search_refuses_bad_filters(ledger: Ledger) -> None:
    result = cli(ledger, "predictions", "search", "--group", "age")
    assert isinstance(result.exception, InputError)
    assert str(result.exception).startswith("group: 'age' is not NAME=VALUE")
    both = cli(ledger, "predictions", "search", "--json", "--csv")
    assert str(both.exception) == "--json and --csv: choose one"


def test_explain_prints_plain_words(sqlite_ledger: Ledger) -> None:
    in_production(sqlite_ledger, config_with())
    (pid, output), *_ = serve(sqlite_ledger, 1)
    result = cli(sqlite_ledger, "explain", pid)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"prediction {pid} by credit-scoring:1 at ")
    said = "favourable" if output["favourable"] else "unfavourable"
    assert f"decision {output['decision']} ({said}), score {output['score']:.4f}" in lines[0]
    assert lines[1].startswith("method: exact-linear; recorded in audit entry ")
    assert lines[2] == "what pushed it most:" and " pushed the decision " in lines[3]
    as_json = json.loads(cli(sqlite_ledger, "explain", pid, "--json").stdout)
    assert as_json["recorded"]["audit_seq"] == int(lines[1].split("audit entry ")[1].split()[0])
