"""Out-of-domain inputs (#17): scored and flagged by default, refused with serving.out_of_domain: reject;
CSV columns read with the type the version's input schema gives them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from sqlalchemy import select

from govflow.errors import DataError
from govflow.flows.recording import set_ledger
from govflow.flows.score import score_flow
from govflow.flows.serving import load_production
from govflow.governance.config import GovflowConfig, parse_config
from govflow.governance.ledger.engine import Ledger
from govflow.governance.ledger.schema import Prediction
from govflow.governance.ledger.verify import verify
from govflow.governance.trail import predictions as preds
from tests.web.serving.helpers import CONFIG, DATA, HERE, counts, put_in_production, records


@pytest.fixture(scope="module", autouse=True)
def _prefect(prefect_harness: None) -> None:
    """Flows here run under the session's one Prefect harness (tests/conftest.py)."""


@pytest.fixture
def recorder(sqlite_ledger: Ledger) -> Iterator[Ledger]:
    set_ledger(sqlite_ledger)
    yield sqlite_ledger
    set_ledger(None)


def config_with(out_of_domain: str | None = None, **data: Any) -> GovflowConfig:
    raw = yaml.safe_load(CONFIG.read_text())
    if out_of_domain is not None:
        raw["serving"] = {"out_of_domain": out_of_domain}
    raw["data"].update(data)
    return parse_config(raw, HERE, source=str(CONFIG))


def shifted_file(tmp_path: Path) -> Path:
    """40 applicants, two of them outside the training domain (a long duration; a new housing)."""
    frame = pd.read_csv(DATA).head(40)
    frame.loc[3, "duration_in_month"] = 500
    frame.loc[7, "housing"] = "houseboat"
    path = tmp_path / "shifted.csv"
    frame.to_csv(path, index=False)
    return path


def logged_outputs(ledger: Ledger) -> list[dict[str, Any]]:
    with ledger.read() as conn:
        rows = conn.execute(select(Prediction.output_json).order_by(Prediction.audit_seq, Prediction.id)).scalars()
        return [json.loads(r) for r in rows]


def test_by_default_out_of_domain_values_are_accepted_and_named(recorder: Ledger) -> None:
    put_in_production(recorder)
    schema = load_production(recorder, "credit-scoring").schema
    assert schema.out_of_domain == "flag" and schema.to_dict()["out_of_domain"] == "flag"
    record = records(1)[0] | {"duration_in_month": 500, "housing": "castle"}
    record["sensitive"] = {**record["sensitive"], "age_in_years": 130}
    (valid,) = schema.validate([record], batch=False)
    assert valid.out_of_domain == ("duration_in_month", "housing", "age_in_years")
    assert valid.features["duration_in_month"] == 500


@pytest.mark.parametrize(("change", "message"), [
    ({"duration_in_month": "500"}, 'duration_in_month: expected an integer, got string "500"'),
    ({"duration_in_month": None}, "duration_in_month: must not be null (the model was trained without missing values here)"),
    ({"housing": ...}, "housing: required feature is missing"),
])
def test_wrong_types_and_missing_fields_stay_refused_when_flagging(recorder: Ledger, change: dict, message: str) -> None:
    put_in_production(recorder)
    schema = load_production(recorder, "credit-scoring").schema
    record = records(1)[0]
    for key, value in change.items():
        if value is ...:
            record.pop(key)
        else:
            record[key] = value
    with pytest.raises(preds.RecordError) as caught:
        schema.validate([record], batch=False)
    assert [m for _, m, _ in caught.value.errors] == [message]


def test_a_shifted_batch_is_scored_and_each_record_names_its_out_of_domain_fields(recorder: Ledger,
                                                                                   tmp_path: Path) -> None:
    put_in_production(recorder)
    outcome = score_flow(str(CONFIG), str(shifted_file(tmp_path)))
    assert (outcome.input_rows, outcome.logged) == (40, 40)
    outputs = logged_outputs(recorder)
    flagged = [o["out_of_domain"] for o in outputs if "out_of_domain" in o]
    assert sorted(flagged) == [["duration_in_month"], ["housing"]]
    assert all(set(o) >= {"decision", "score"} for o in outputs)
    assert verify(recorder).intact


def test_reject_refuses_the_whole_file_and_logs_nothing(recorder: Ledger, tmp_path: Path) -> None:
    put_in_production(recorder, config_with("reject"))
    before = counts(recorder)
    with pytest.raises(DataError) as caught:
        score_flow(str(CONFIG), str(shifted_file(tmp_path)))
    assert str(caught.value) == (
        "shifted.csv: rows do not fit the input schema of credit-scoring:1; nothing was scored: "
        "row 3: duration_in_month: 500 is outside the range the model was trained on [0, 79]; "
        'row 7: housing: "houseboat" is not one of the values the model was trained on ("for free", "own", "rent")')
    assert counts(recorder)[:2] == before[:2]


def test_a_bad_serving_setting_is_refused_with_the_choices() -> None:
    with pytest.raises(Exception) as caught:
        config_with("ignore")
    assert "serving.out_of_domain" in str(caught.value) and "'flag' or 'reject'" in str(caught.value)


def test_categorical_codes_written_as_numbers_are_read_as_the_codes_they_are(recorder: Ledger, tmp_path: Path) -> None:
    frame = pd.read_csv(DATA)
    frame["housing"] = frame["housing"].map({"own": "1", "rent": "2", "for free": "3"})  # codes, as text
    frame.to_parquet(tmp_path / "train.parquet", index=False)  # parquet keeps them text
    put_in_production(recorder, config_with(train=str(tmp_path / "train.parquet")))
    frame.head(30).to_csv(tmp_path / "applicants.csv", index=False)  # a CSV writes them as numbers
    assert pd.read_csv(tmp_path / "applicants.csv")["housing"].dtype.kind == "i"  # what pandas guesses
    outcome = score_flow(str(CONFIG), str(tmp_path / "applicants.csv"))
    assert outcome.logged == 30
    assert not [o for o in logged_outputs(recorder) if "out_of_domain" in o]


def test_serve_answers_an_out_of_domain_applicant_and_records_the_fields(sqlite_ledger: Ledger) -> None:
    from fastapi.testclient import TestClient

    from govflow.web.app import create_app

    put_in_production(sqlite_ledger)
    older = records(1)[0]
    older["sensitive"]["age_in_years"] = 99  # older than anyone in the training data
    with TestClient(create_app(sqlite_ledger), client=("127.0.0.1", 50000)) as client:
        response = client.post("/predict/credit-scoring", json=older)
    assert response.status_code == 200, response.text
    [answer] = response.json()["predictions"]
    assert answer["out_of_domain"] == ["age_in_years"] and answer["decision"] in ("good", "bad")
    assert logged_outputs(sqlite_ledger) == [{"decision": answer["decision"], "favourable": answer["favourable"],
                                              "score": answer["score"], "score_of": "good",
                                              "out_of_domain": ["age_in_years"]}]


def test_serve_with_reject_refuses_it_with_422(sqlite_ledger: Ledger) -> None:
    from fastapi.testclient import TestClient

    from govflow.web.app import create_app

    put_in_production(sqlite_ledger, config_with("reject"))
    older = records(1)[0]
    older["sensitive"]["age_in_years"] = 99
    with TestClient(create_app(sqlite_ledger), client=("127.0.0.1", 50000)) as client:
        response = client.post("/predict/credit-scoring", json=older)
    assert response.status_code == 422
    assert "sensitive.age_in_years: 99 is outside the range the model was trained on" in response.text
    assert logged_outputs(sqlite_ledger) == []
