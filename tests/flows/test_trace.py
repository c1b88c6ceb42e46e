"""`govflow trace model | dataset | run` and `govflow export --format openlineage`, end to end."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from govflow.cli.lineage import EXPORTERS
from govflow.flows.recording import set_ledger
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.runs import EntityRef, RunRecord, record_run
from govflow.governance.ledger.schema import ModelVersion, Run
from govflow.governance.lineage import graph
from govflow.governance.registry import versions as registry
from tests.flows import helpers as h
from tests.lineage.openlineage.schemas import errors

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def normal(text: str) -> str:
    """Output with ids, fingerprints and times replaced, so it can be compared exactly."""
    text = re.sub(r"\b[0-9a-f]{8}-[0-9a-f]{4}(-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})?\b", "<id>", text)
    text = re.sub(r"\b(fp\d+):[0-9a-f]{12}\b", r"\1:<fp>", text)
    return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", "<time>", text)


@pytest.fixture(scope="module")
def trained(module_ledger: Ledger) -> Iterator[Ledger]:
    """credit:1 trained; later, the same data prepared again and used by another flow, other data
    prepared, and the model used for scoring. Shared by this module's tests, which only read."""
    set_ledger(module_ledger)
    try:
        assert h.train_model("credit", 60) == "credit:1"
        h.consume(h.prepare(60))
        h.prepare(30)  # unrelated content
        h.score("credit:1", 12)  # uses the model
    finally:
        set_ledger(None)
    yield module_ledger


MODEL_TREE = """\
model credit:1 · candidate · fp2:<fp>
├─ trained in flow train-model · completed · run <id> · <time>
├─ stages: candidate
│  └─ candidate · <time> · by test · registered by the training flow
├─ upstream (how it was made)
│  └─ produced by task fit · completed · run <id> · <time>
│     └─ train: dataset split.return[0] fp2:<fp> (39 rows × 3 columns)
│        └─ produced by task split · completed · run <id> · <time>
│           └─ frame: dataset clean.return fp2:<fp> (59 rows × 3 columns)
│              ├─ checked by task validate · completed · run <id> · <time>
│              │  └─ checks: 3 (1 passed, 1 failed, 1 not judged)
│              │     ├─ FAILED: validation expect_table_row_count_to_be_between [table] observed 59, threshold 1000 (warning)
│              │     └─ not judged: fairness selection_rate [label=bad] observed None, threshold 30 (warning)
│              ├─ produced by task clean · completed · run <id> · <time>
│              │  └─ frame: dataset load.return fp2:<fp> (60 rows × 3 columns)
│              │     ├─ produced by task load · completed · run <id> · <time>
│              │     └─ the same content was also produced by 1 other run(s): <id>
│              └─ the same content was also produced by 1 other run(s): <id>
└─ downstream (where it was used)
   ├─ used by task evaluate · completed · run <id> · <time>
   │  └─ checks: 2 (1 passed, 0 failed, 1 not judged)
   │     └─ not judged: performance accuracy [label=bad] observed None, threshold 0.5 (warning)
   ├─ used by task register · completed · run <id> · <time>
   └─ used by task predict · completed · run <id> · <time>
      └─ produced: dataset predict.return fp2:<fp> (12 rows × 1 columns)
"""


def test_trace_model_prints_how_it_was_made_and_where_it_went(trained: Ledger, monkeypatch: Any, capsys: Any) -> None:
    code, out, err = h.cli(monkeypatch, capsys, trained, "trace", "model", "credit:1")
    assert (code, err) == (0, "")
    assert normal(out) == MODEL_TREE
    assert h.cli(monkeypatch, capsys, trained, "trace", "model", "credit:latest")[1] == out


def test_trace_model_as_json(trained: Ledger, monkeypatch: Any, capsys: Any) -> None:
    code, out, _ = h.cli(monkeypatch, capsys, trained, "trace", "model", "credit:1", "--json")
    tree = json.loads(out)
    with trained.read() as conn:
        mv = conn.execute(select(ModelVersion)).mappings().one()
    assert (code, tree["type"], tree["system"], tree["version"], tree["fingerprint"]) == (
        0, "model", "credit", 1, mv["fingerprint"])
    sections = {c["type"]: c for c in tree["children"]}
    assert sections["run"]["run_id"] == mv["training_run_id"]
    [fit] = sections["upstream"]["children"]
    assert (fit["type"], fit["name"], fit["state"]) == ("run", "fit", "completed")
    [train] = fit["children"]
    assert (train["type"], train["role"], train["name"], train["row_count"]) == ("dataset", "train", "split.return[0]", 39)
    users = [c["name"] for c in sections["downstream"]["children"]]
    assert users == ["evaluate", "register", "predict"]
    evaluate_checks = sections["downstream"]["children"][0]["children"][0]
    assert evaluate_checks["type"] == "checks" and len(evaluate_checks["results"]) == 2
    assert "children" not in evaluate_checks  # the per-result lines are for reading; results hold them all


@pytest.mark.parametrize(("ref", "message"), [
    ("credit", "error: 'credit' names no version: write NAME:VERSION, e.g. credit:latest, credit:production or credit:1"),
    ("credit:production", "error: credit has no version in production; promote one with `govflow promote credit:VERSION`"),
    ("credit:7", "error: credit has no version 7 (versions: 1)"),
    ("debit:1", "error: no model versions recorded for system 'debit'; train one with `govflow run train -c govflow.yaml`"),
])
def test_trace_model_refuses_what_it_cannot_resolve(trained: Ledger, monkeypatch: Any, capsys: Any,
                                                    ref: str, message: str) -> None:
    assert h.cli(monkeypatch, capsys, trained, "trace", "model", ref) == (2, "", message + "\n")


def test_trace_dataset_by_prefix(trained: Ledger, monkeypatch: Any, capsys: Any) -> None:
    [split_run] = h.runs_named(trained, "split")
    [train_edge, _] = h.edges(trained, split_run["id"], "output")
    fp = train_edge["fingerprint"]
    code, out, err = h.cli(monkeypatch, capsys, trained, "trace", "dataset", fp[4:14])
    assert (code, err) == (0, "")
    assert normal(out) == """\
dataset split.return[0] fp2:<fp> (39 rows × 3 columns)
├─ upstream (where it came from)
│  └─ produced by task split · completed · run <id> · <time>
│     └─ frame: dataset clean.return fp2:<fp> (59 rows × 3 columns)
│        ├─ checked by task validate · completed · run <id> · <time>
│        │  └─ checks: 3 (1 passed, 1 failed, 1 not judged)
│        │     ├─ FAILED: validation expect_table_row_count_to_be_between [table] observed 59, threshold 1000 (warning)
│        │     └─ not judged: fairness selection_rate [label=bad] observed None, threshold 30 (warning)
│        ├─ produced by task clean · completed · run <id> · <time>
│        │  └─ frame: dataset load.return fp2:<fp> (60 rows × 3 columns)
│        │     ├─ produced by task load · completed · run <id> · <time>
│        │     └─ the same content was also produced by 1 other run(s): <id>
│        └─ the same content was also produced by 1 other run(s): <id>
└─ downstream (where it went)
   └─ used by task fit · completed · run <id> · <time>
      └─ produced: model fit.return fp2:<fp> (registered as credit:1)
         ├─ used by task evaluate · completed · run <id> · <time>
         │  └─ checks: 2 (1 passed, 0 failed, 1 not judged)
         │     └─ not judged: performance accuracy [label=bad] observed None, threshold 0.5 (warning)
         ├─ used by task register · completed · run <id> · <time>
         └─ used by task predict · completed · run <id> · <time>
            └─ produced: dataset predict.return fp2:<fp> (12 rows × 1 columns)
"""
    assert h.cli(monkeypatch, capsys, trained, "trace", "dataset", fp[:14])[1] == out
    as_json = json.loads(h.cli(monkeypatch, capsys, trained, "trace", "dataset", fp, "--json")[1])
    assert (as_json["fingerprint"], as_json["columns"]) == (fp, [["age", "int64"], ["income", "float64"],
                                                                 ["label", "object"]])


def _two_alike(ledger: Ledger) -> None:
    """Two data sets whose fingerprints share their first 10 hex digits."""
    for tail in ("1", "2"):
        record_run(ledger, RunRecord(
            run_id=f"01950000-0000-7000-8000-00000000000{tail}", kind="task", name="import", state="completed",
            started_at=T0, ended_at=T0, root_run_id=f"01950000-0000-7000-8000-00000000000{tail}",
            outputs=(EntityRef(role="return", kind="dataset", fingerprint="fp1:deadbeef00" + tail * 54, name="x"),)))


@pytest.mark.parametrize(("given", "message"), [
    ("deadbee", "'deadbee' is too short: give at least 8 characters of the fingerprint (after 'fp2:')"),
    ("fp1:deadbee", "'fp1:deadbee' is too short: give at least 8 characters of the fingerprint (after 'fp1:')"),
    ("deadbeef00", "'deadbeef00' matches 2 fingerprints (fp1:deadbeef00111111, fp1:deadbeef00222222); give more characters"),
    ("fp1:0123456789", "no data set, model or file in the ledger has a fingerprint starting with 'fp1:0123456789'"),
])
def test_trace_dataset_refuses_short_unknown_and_ambiguous_prefixes(
        sqlite_ledger: Ledger, monkeypatch: Any, capsys: Any, given: str, message: str) -> None:
    _two_alike(sqlite_ledger)
    assert h.cli(monkeypatch, capsys, sqlite_ledger, "trace", "dataset", given) == (2, "", f"error: {message}\n")
    assert h.cli(monkeypatch, capsys, sqlite_ledger, "trace", "dataset", "deadbeef001")[0] == 0


def test_trace_run_by_prefix_and_by_prefect_id(trained: Ledger, monkeypatch: Any, capsys: Any) -> None:
    [flow_run] = h.runs_named(trained, "train-model")
    code, out, err = h.cli(monkeypatch, capsys, trained, "trace", "run", flow_run["id"][:13])
    assert (code, err) == (0, "")
    assert normal(out).splitlines()[:3] == [
        "flow train-model · completed · run <id> · <time>", '├─ params: {"n":60,"system":"credit"}', "├─ steps: 7"]
    assert "└─ return: model fit.return fp2:<fp> (registered as credit:1)" in normal(out)
    assert h.cli(monkeypatch, capsys, trained, "trace", "run", flow_run["prefect_run_id"])[1] == out
    [fit] = h.runs_named(trained, "fit")
    fit_tree = normal(h.cli(monkeypatch, capsys, trained, "trace", "run", fit["id"])[1])
    assert fit_tree.splitlines()[:2] == ["task fit · completed · run <id> · <time>",
                                         "├─ inside flow train-model · completed · run <id> · <time>"]


def test_trace_run_refuses_short_unknown_and_ambiguous_ids(trained: Ledger, monkeypatch: Any, capsys: Any) -> None:
    assert h.cli(monkeypatch, capsys, trained, "trace", "run", "01a2") == (
        2, "", "error: '01a2' is too short: give at least 8 characters of the run id\n")
    assert h.cli(monkeypatch, capsys, trained, "trace", "run", "ffffffff-ffff") == (
        2, "", "error: no run in the ledger has an id (or a Prefect run id) starting with 'ffffffff-ffff'\n")
    with trained.read() as conn:
        ids = sorted(conn.execute(select(Run.id)).scalars())
    prefix = ids[0][:8]
    sharing = [i for i in ids if i.startswith(prefix)]
    code, _, err = h.cli(monkeypatch, capsys, trained, "trace", "run", prefix)
    if len(sharing) > 1:  # ids made within the same minute share their first 8 hex digits
        count = str(len(sharing)) if len(sharing) <= 5 else "more than 5"
        shown = ", ".join(i[:16] for i in sharing[:5]) + (", ..." if len(sharing) > 5 else "")
        assert (code, err) == (2, f"error: '{prefix}' matches {count} runs ({shown}); give more characters of the run id\n")


def test_run_ids_for_a_model(trained: Ledger) -> None:
    with trained.read() as conn:
        mv = registry.resolve(conn, "credit:1")
        ids = set(graph.run_ids_for_model(conn, mv.id))
        names = {r.id: r.name for r in graph.runs(conn, ids).values()}
        everything = set(conn.execute(select(Run.id)).scalars())
    [train_flow] = h.runs_named(trained, "train-model")
    training = {r["id"] for r in h.rows(trained, Run, Run.root_run_id == train_flow["id"])}
    assert training <= ids  # the training flow and all its steps
    [score_flow] = h.runs_named(trained, "score")
    scoring = {r["id"] for r in h.rows(trained, Run, Run.root_run_id == score_flow["id"])}
    assert len(scoring) == 3 and scoring <= ids  # a later flow that used the model, with all its steps
    # flows that only re-used data upstream of the training split, or other data, are not in
    assert {"consume", "prepare"}.isdisjoint(names.values())
    assert ids == training | scoring and ids < everything


def test_export_openlineage(trained: Ledger, monkeypatch: Any, capsys: Any, tmp_path: Path) -> None:
    out = tmp_path / "export" / "credit-1.jsonl"
    code, stdout, err = h.cli(monkeypatch, capsys, trained, "export", "credit:1", "--format", "openlineage", "-o", str(out))
    with trained.read() as conn:
        ids = graph.run_ids_for_model(conn, registry.resolve(conn, "credit:1").id)
    assert (code, err) == (0, "")
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert stdout == f"wrote {len(events)} OpenLineage events for {len(ids)} runs of credit:1 to {out}\n"
    assert all(errors(e) == [] for e in events)
    assert {e["run"]["runId"] for e in events} == set(ids)
    assert {e["job"]["namespace"] for e in events} == {"govflow://credit"}
    with trained.read() as conn:
        mv = conn.execute(select(ModelVersion)).mappings().one()
    fit_done = next(e for e in events if e["job"]["name"] == "train-model.fit" and e["eventType"] == "COMPLETE")
    assert [o["facets"]["version"]["datasetVersion"] for o in fit_done["outputs"]] == [mv["fingerprint"]]


@pytest.mark.parametrize(("args", "message"), [
    (["credit", "--format", "openlineage"], "error: 'credit' names no version: write NAME:VERSION, e.g. "
                                           "credit:latest, credit:production or credit:1"),
    (["credit:1", "--format", "xml"], "error: unknown export format 'xml'; choose one of: " + ", ".join(sorted(EXPORTERS))),
])
def test_export_refuses_bad_input(trained: Ledger, monkeypatch: Any, capsys: Any, tmp_path: Path,
                                  args: list[str], message: str) -> None:
    assert h.cli(monkeypatch, capsys, trained, "export", *args, "-o", str(tmp_path / "x")) == (2, "", message + "\n")
    assert not (tmp_path / "x").exists()
