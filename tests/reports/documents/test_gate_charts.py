"""Every document a real gate writes holds a chart (#18): on the real credit-scoring scenario (German credit).

The model card and Annex IV chart fairness by group (selection rate, TPR, FPR with intervals and the
policy bound); each datasheet charts its rows per sensitive group against the minimum group size and
counts the missing values of every column.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest

from govflow.governance.ledger.engine import Ledger
from govflow.governance.registry import versions as registry
from govflow.governance.reports.documents import store
from tests.reports.gap.scenario import scenario

SVG = ""  # inline in HTML, the charts carry no namespace


@pytest.fixture(scope="module")
def gated(prefect_harness: None) -> Iterator[dict[str, str]]:
    """The current documents of the blocked version 2, as the gate stored them: name -> text."""
    ledger = Ledger.open(home=scenario().home)
    with ledger.read() as conn:
        mv_id = registry.resolve(conn, "credit-scoring:2").id
        rows = store.current(conn, mv_id)
    yield {name: ledger.artifacts.read(row["content_hash"]).decode("utf-8") for name, row in rows.items()}
    ledger.close()


def charts(page: str) -> list[ET.Element]:
    found = []
    rest = page
    while "<svg" in rest:
        start = rest.index("<svg")
        end = rest.index("</svg>", start) + len("</svg>")
        found.append(ET.fromstring(rest[start:end]))
        rest = rest[end:]
    return found


def having(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if e.get("class") == cls]


def test_each_document_of_the_gate_holds_a_chart(gated: dict[str, str]) -> None:
    pages = {name: text for name, text in gated.items() if name.endswith(".html")}
    kinds = {name.split("-credit-scoring")[0] for name in pages}
    assert kinds == {"model-card", "annex-iv", "datasheet"} and len(pages) == 5
    for name, page in pages.items():
        assert charts(page), f"{name} holds no chart"


def test_the_model_card_charts_fairness_with_intervals_and_the_bound(gated: dict[str, str]) -> None:
    card = gated["model-card-credit-scoring-v2.html"]
    fairness = [c for c in charts(card) if c.findtext(f"{SVG}title", "").startswith("Fairness by group of")]
    titles = [c.findtext(f"{SVG}title", "") for c in fairness]
    assert "Fairness by group of age_in_years" in titles and "Fairness by group of personal_status_and_sex" in titles
    age = fairness[titles.index("Fairness by group of age_in_years")]
    for panel in having(age, "panel"):
        assert len(having(panel, "bar")) == 2 and len(having(panel, "whisker")) == 2
        assert len(having(panel, "bound")) == 1
    # The configured names of the age bins (data/credit-scoring.govflow.yaml) label the rows and the table.
    assert {"under 25", "25 and over"} <= {t.text for t in age.iter(f"{SVG}tspan")}
    assert "<td>under 25 (<code>[0, 25)</code>)</td>" in card
    assert ("- `age_in_years` binned at `[0, 25, 120]` (left-closed edges), groups named `[0, 25)` under 25, "
            "`[25, 120)` 25 and over\n") in gated["model-card-credit-scoring-v2.md"]
    assert not any(icon in card for icon in "✔✘○⚠✅❌")


def test_each_datasheet_counts_missing_values_and_describes_every_column(gated: dict[str, str]) -> None:
    for role, rows in (("source", 1000), ("train", 700), ("held-out", 300)):
        sheet = gated[f"datasheet-credit-scoring-v2-{role}.md"]
        assert f"| **Missing values** | none: every one of the {rows * 21:,} cells holds a value |" in sheet, role
        assert "| Column | Type | Count | Missing | Min | Max | Mean | Most frequent values |" in sheet
        assert f"| `age_in_years` | `int64` | {rows:,} | 0 | " in sheet
    source = gated["datasheet-credit-scoring-v2-source.md"]
    assert "| `creditability` | `object` | 1,000 | 0 | — | — | — | good (700); bad (300) |" in source
