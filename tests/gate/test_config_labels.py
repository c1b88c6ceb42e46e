"""Group names in `data.sensitive_features` (``labels:``): parsed from YAML, refused with the fix when wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from govflow.checks.groups import SensitiveFeature as CheckedFeature
from govflow.checks.groups import group_display_label
from govflow.errors import ConfigError
from govflow.governance.config import load_config

DATA = Path(__file__).parents[2] / "data"
CONFIG = """\
system: {{name: employment, intended_purpose: Screen applicants}}
data:
  train: {train}
  target: employed
  positive_label: 1
  sensitive_features:
{features}
"""


def write(tmp_path: Path, features: str) -> Path:
    path = tmp_path / "govflow.yaml"
    train = DATA / "acs_employment_ma" / "reference_2015.parquet"
    path.write_text(CONFIG.format(train=train, features=features), encoding="utf-8")
    return path


def test_codes_written_as_numbers_name_the_groups_the_checks_compute(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "    - SEX\n    - {column: RAC1P, labels: {1: White, 2: Black}}"))
    sex, race = config.data.sensitive()
    assert sex.labels is None
    assert race.labels == {"1": "White", "2": "Black"}
    specs = config.snapshot()["data"]["sensitive_features"]
    assert specs == ["SEX", {"column": "RAC1P", "bins": None, "labels": {"1": "White", "2": "Black"}}]
    assert group_display_label("RAC1P", "2", specs) == "Black"
    assert CheckedFeature.parse(race.model_dump()) == CheckedFeature("RAC1P")  # the checks still use the codes


def test_a_config_without_labels_keeps_its_config_hash(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "    - {column: AGEP, bins: [0, 25, 120]}"))
    assert config.model_dump(mode="json")["data"]["sensitive_features"] == [{"column": "AGEP", "bins": [0.0, 25.0, 120.0]}]
    named = load_config(write(tmp_path, "    - {column: AGEP, bins: [0, 25, 120], labels: {'[0, 25)': under 25}}"))
    assert named.config_hash() != config.config_hash()  # naming groups is a change of the config, recorded as one


@pytest.mark.parametrize(("features", "message"), [
    ("    - {column: RAC1P, labels: {1: White, 2: White}}",
     "data.sensitive_features[0]: labels: codes '1' and '2' have the same name 'White'; give each group its own "
     "name, or merge the codes in the data"),
    ("    - {column: RAC1P, labels: {1: 7}}",
     "data.sensitive_features[0].labels: the name of code 1 must be non-empty text (7 is not), "
     "e.g. labels: {1: White, 2: Black}"),
    ("    - {column: RAC1P, labels: {1: White, '1': Black}}",
     "data.sensitive_features[0].labels: codes 1 and '1' are the same group; give each code once"),
    ("    - {column: RAC1P, labels: [White, Black]}",
     "data.sensitive_features[0].labels: give a mapping from each code to its name, e.g. labels: {1: White, 2: Black}"),
    ("    - {column: RAC1P, labels: {}}",
     "data.sensitive_features[0].labels: give a mapping from each code to its name, e.g. labels: {1: White, 2: Black}"),
    ("    - {column: AGEP, bins: [0, 25, 120], labels: {0: young}}",
     "data.sensitive_features[0]: labels: '0' is not one of the bins' groups ([0, 25), [25, 120)); with bins, "
     "name the bins, e.g. labels: {'[0, 25)': under 25}"),
    ("    - {column: RAC1P, lables: {1: White}}",
     "data.sensitive_features[0].lables: unknown key; did you mean 'labels'?"),
])
def test_wrong_labels_are_refused_with_the_fix(tmp_path: Path, features: str, message: str) -> None:
    path = write(tmp_path, features)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value) == f"{path}: {message}"


ACS_RACE = {"1": "White", "2": "Black", "3": "American Indian", "4": "Alaska Native", "5": "AIAN tribes",
            "6": "Asian", "7": "Pacific Islander", "8": "other race", "9": "two or more races"}


@pytest.mark.parametrize("name", ["employment.govflow.yaml", "employment-v2.govflow.yaml"])
def test_the_shipped_employment_configs_name_every_acs_code(name: str) -> None:
    import pandas as pd

    config = load_config(DATA / name)
    labels = {s.column: s.labels for s in config.data.sensitive()}
    assert labels == {"SEX": {"1": "male", "2": "female"}, "RAC1P": ACS_RACE}
    frame = pd.read_parquet(config.train_path, columns=["SEX", "RAC1P"])
    for column in ("SEX", "RAC1P"):  # every code in the data has a name
        assert {str(c) for c in frame[column].unique()} <= set(labels[column] or {})


@pytest.mark.parametrize("name", ["credit-scoring.govflow.yaml", "credit-scoring-mitigated.govflow.yaml"])
def test_the_shipped_credit_configs_name_the_age_bins(name: str) -> None:
    specs = load_config(DATA / name).snapshot()["data"]["sensitive_features"]
    assert group_display_label("age_in_years", "[0, 25)", specs) == "under 25"
    assert group_display_label("age_in_years", "[25, 120)", specs) == "25 and over"
    # personal_status_and_sex holds words already ("male : single"): shown as they are
    assert group_display_label("personal_status_and_sex", "male : single", specs) == "male : single"
