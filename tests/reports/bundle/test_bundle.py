"""The auditor's bundle of a real gated and approved version, checked by its standalone verifier."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from govflow.governance.ledger.engine import Ledger
from tests.reports.gap.scenario import Scenario, scenario

GOVFLOW = str(Path(sys.executable).parent / "govflow")
# A Python with nothing but its standard library: the system's, else this one with site-packages off (-S).
PLAIN_PYTHON = [shutil.which("python3", path="/usr/bin:/bin") or sys.executable, "-I"]
if PLAIN_PYTHON[0] == sys.executable:
    PLAIN_PYTHON.append("-S")


@pytest.fixture(scope="module")
def credit(prefect_harness: None) -> Scenario:
    return scenario()


@pytest.fixture(scope="module")
def bundle_zip(credit: Scenario, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "credit-scoring-1.zip"
    done = subprocess.run([GOVFLOW, "--home", str(credit.home), "export", "credit-scoring:1", "--format", "bundle",
                           "-o", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote the auditor's bundle of credit-scoring:1 to {out}: ")
    return out


@pytest.fixture
def unzipped(bundle_zip: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "bundle"
    with zipfile.ZipFile(bundle_zip) as archive:
        archive.extractall(folder)
    return folder


def run_verifier(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PLAIN_PYTHON, "verify_bundle.py", *args], cwd=folder, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin"})


def test_a_fresh_bundle_verifies_with_nothing_but_the_standard_library(unzipped: Path, bundle_zip: Path) -> None:
    done = run_verifier(unzipped)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("bundle intact: ")
    on_zip = run_verifier(unzipped, str(bundle_zip))
    assert on_zip.returncode == 0, on_zip.stdout
    head = json.loads((unzipped / "chain/head.json").read_text())
    assert f"chain segment to head {head['seq']} {head['entry_hash']}" in done.stdout


TAMPERED = ["report.html", "documents/annex-iv-credit-scoring-v1.md", "documents/model-card-credit-scoring-v1.html",
            "documents/gap-report-credit-scoring.json", "checks/check_results.json", "chain/entries.jsonl",
            "chain/rows.jsonl", "chain/row_hashes.json", "chain/head.json", "lineage/prov.json",
            "lineage/openlineage.jsonl", "README.txt", "manifest.json", "verify_bundle.py"]


@pytest.mark.parametrize("name", TAMPERED)
def test_changing_any_single_byte_fails_and_names_the_file(unzipped: Path, name: str) -> None:
    path = unzipped / name
    data = bytearray(path.read_bytes())
    # a byte in the middle (for the verifier, one inside its module docstring, so it still runs)
    at = 400 if name == "verify_bundle.py" else len(data) // 2
    data[at] = ord("x") if data[at] != ord("x") else ord("y")
    path.write_bytes(bytes(data))
    done = run_verifier(unzipped)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.startswith("BUNDLE NOT INTACT: ")
    assert f"  {name}: " in done.stdout or (name == "manifest.json" and "does not match manifest.json" in done.stdout), done.stdout


def test_a_file_added_or_removed_is_named(unzipped: Path) -> None:
    (unzipped / "documents/extra.md").write_text("# slipped in\n")
    (unzipped / "lineage/prov.json").unlink()
    done = run_verifier(unzipped)
    assert done.returncode == 1
    assert "  lineage/prov.json: listed in manifest.json but missing from the bundle" in done.stdout
    assert "  documents/extra.md: in the bundle but not listed in manifest.json" in done.stdout


def test_a_byte_changed_inside_the_archive_is_named(bundle_zip: Path, tmp_path: Path, unzipped: Path) -> None:
    copy = tmp_path / "tampered.zip"
    data = bytearray(bundle_zip.read_bytes())
    with zipfile.ZipFile(bundle_zip) as archive:
        info = archive.getinfo("chain/rows.jsonl")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0x01
    copy.write_bytes(bytes(data))
    done = run_verifier(unzipped, str(copy))
    assert done.returncode == 1, done.stdout
    assert "chain/rows.jsonl" in done.stdout


def test_the_bundle_holds_the_documents_checks_lineage_and_chain_of_the_version(unzipped: Path, credit: Scenario) -> None:
    names = {p.relative_to(unzipped).as_posix() for p in unzipped.rglob("*") if p.is_file()}
    for name in ("model-card-credit-scoring-v1.md", "annex-iv-credit-scoring-v1.html", "datasheet-credit-scoring-v1-train.md",
                 "data_contract.json", "gap-report-credit-scoring.md", "risk-classification-credit-scoring.json"):
        assert f"documents/{name}" in names
    assert not any(n.endswith(".parquet") for n in names)  # data splits are identified by hash, not shipped
    manifest = json.loads((unzipped / "manifest.json").read_text())
    assert set(manifest["files"]) == names - {"manifest.json"}
    checks = json.loads((unzipped / "checks/check_results.json").read_text())
    assert {c["kind"] for c in checks} >= {"validation", "performance", "fairness", "classification"}
    events = [json.loads(line) for line in (unzipped / "lineage/openlineage.jsonl").read_text().splitlines()]
    assert {e["eventType"] for e in events} == {"START", "COMPLETE"}
    assert {e["job"]["name"] for e in events} >= {"train", "gate"}
    ledger = Ledger.open(home=credit.home)
    try:
        head_seq, head_hash = ledger.head()
    finally:
        ledger.close()
    assert manifest["head"]["seq"] == head_seq and manifest["head"]["entry_hash"] == head_hash
    done = subprocess.run([GOVFLOW, "--home", str(credit.home), "verify", "--head", head_hash], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_report_navigates_from_each_decision_down_to_the_data_hashes(unzipped: Path) -> None:
    page = (unzipped / "report.html").read_text(encoding="utf-8")
    ids = set(re.findall(r'id="([^"]+)"', page))
    targets = re.findall(r'href="#([^"]+)"', page)
    assert targets and set(targets) <= ids  # every in-page link lands
    for href in re.findall(r'href="(documents/[^"]+)"', page):
        assert (unzipped / href).is_file()
    decision = re.search(r'<h3 id="decision-[^"]+">PASS.*?</ul>', page, re.S)
    assert decision is not None
    gate_run = re.search(r'Gate run</td><td><a href="#(run-[^"]+)"', decision.group(0))
    checks = re.search(r'href="#(checks-[^"]+)"', decision.group(0))
    data = re.findall(r'href="#(ds-[^"]+)">([^<]+)</a>', decision.group(0))
    assert gate_run and checks and data
    assert any("fp2:" in text for _, text in data)  # the held-out data's fingerprint
    for anchor, _ in data:
        row = re.search(rf'<span id="{anchor}">.*?</tr>', page, re.S)
        assert row is not None and re.search(r"<code>fp2:[0-9a-f]{64}</code>", row.group(0))
    assert "http://" not in page and "https://" not in page and "<script" not in page


def test_prov_json_is_a_well_formed_prov_document(credit: Scenario, tmp_path: Path) -> None:
    out = tmp_path / "lineage.prov.json"
    done = subprocess.run([GOVFLOW, "--home", str(credit.home), "export", "credit-scoring:1", "--format", "prov", "-o", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote the lineage of credit-scoring:1 as W3C PROV-JSON to {out}: ")
    doc = json.loads(out.read_text())
    prefixes = set(doc["prefix"]) | {"prov", "xsd"}
    declared = {kind: set(doc[kind]) for kind in ("entity", "activity", "agent")}
    for kind in ("entity", "activity", "agent"):
        for ident in doc[kind]:
            assert ident.split(":", 1)[0] in prefixes, ident
    members = {  # PROV-JSON member names and what each must refer to
        "used": {"prov:activity": "activity", "prov:entity": "entity"},
        "wasGeneratedBy": {"prov:entity": "entity", "prov:activity": "activity"},
        "wasStartedBy": {"prov:activity": "activity", "prov:starter": "activity"},
        "wasAssociatedWith": {"prov:activity": "activity", "prov:agent": "agent"},
        "wasDerivedFrom": {"prov:generatedEntity": "entity", "prov:usedEntity": "entity"},
        "specializationOf": {"prov:specificEntity": "entity", "prov:generalEntity": "entity"},
    }
    for relation, refs in members.items():
        assert doc[relation], relation
        for rid, body in doc[relation].items():
            assert rid.startswith("_:")
            for member, kind in refs.items():
                assert body[member] in declared[kind], (relation, member, body[member])
            assert set(body) <= set(refs) | {"prov:role", "prov:time"}
    labels = {v.get("prov:label") for v in doc["entity"].values()}
    assert "credit-scoring:1" in labels
    assert {v["prov:label"] for v in doc["agent"].values()} >= {"govflow", "Dana Meyer", "Ravi Patel"}


def test_the_report_charts_fairness_by_group_with_the_policy_bound(unzipped: Path) -> None:
    import xml.etree.ElementTree as ET

    page = (unzipped / "report.html").read_text(encoding="utf-8")
    section = page.split('<h2 id="charts">', 1)[1].split("<h2 ", 1)[0]
    svgs = [ET.fromstring(m) for m in re.findall(r"<svg .*?</svg>", section, re.S)]
    titles = [svg.find("title").text for svg in svgs]  # type: ignore[union-attr]
    assert "Fairness by group of age_in_years" in titles
    age = svgs[titles.index("Fairness by group of age_in_years")]
    classes = [e.get("class") for e in age.iter()]
    assert classes.count("panel") == 3 and classes.count("bar") == 6 and classes.count("bound") == 3
    assert classes.count("whisker") == 6
    assert '<strong class="badge badge-pass">PASS</strong>' in page  # check results as coloured words
