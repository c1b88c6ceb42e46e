"""Benchmark of the checks on ACS employment: validation + fairness + drift, target <= 20 s in all.

Reference: 2015 (68,785 rows, with labels). Analysis: 2016-2018 (208,892 rows, labels joined).
A quick logistic regression is trained on the reference to have predictions to judge. Each step's
wall-clock and CPU time is printed; library imports are timed as a step of their own, since a
fresh process pays them once. Run from the repository root: ``python bench/bench_checks.py``.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DO_NOT_TRACK", "1")

TARGET_SECONDS = 20.0
FEATURES = ["AGEP", "SCHL", "MAR", "RELP", "DIS", "ESP", "CIT", "MIG", "MIL", "ANC", "NATIVITY", "DEAR", "DEYE",
            "DREM", "SEX", "RAC1P"]
MODEL_FEATURES = [c for c in FEATURES if c not in ("SEX", "RAC1P")]  # sensitive attributes kept out
rows: list[tuple[str, float, float, bool]] = []


def step(name: str, counted: bool, work: Callable[[], Any]) -> Any:
    """Run `work`, record and print its wall and CPU time."""
    wall, cpu = time.perf_counter(), time.process_time()
    value = work()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rows.append((name, wall, cpu, counted))
    print(f"{name:<52} {wall:7.2f} s wall {cpu:7.2f} s cpu{'' if counted else '   (not counted)'}", flush=True)
    return value


def imports() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import evidently  # noqa: F401
        import fairlearn.metrics  # noqa: F401
        import great_expectations  # noqa: F401
        import sklearn.metrics  # noqa: F401


def main() -> None:
    import pandas as pd

    from govflow.checks.contract import infer_contract
    from govflow.checks.drift import _evidently, assess_drift
    from govflow.checks.fairness import assess_fairness
    from govflow.checks.performance import assess_performance
    from govflow.checks.validation import validate

    data = ROOT / "data" / "acs_employment_ma"
    drop = ["prediction", "predicted_probability"]

    def load() -> tuple[pd.DataFrame, pd.DataFrame]:
        reference = pd.read_parquet(data / "reference_2015.parquet").drop(columns=drop)
        analysis = pd.read_parquet(data / "analysis_2016_2018.parquet").drop(columns=drop)
        labels = pd.read_parquet(data / "analysis_2016_2018_target.parquet")
        return reference, analysis.merge(labels, on="id", validate="1:1")

    reference, analysis = step("load parquet (68,785 + 208,892 rows)", False, load)

    def train() -> Any:
        from sklearn.compose import ColumnTransformer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        pre = ColumnTransformer([("num", StandardScaler(), ["AGEP"]),
                                 ("cat", OneHotEncoder(handle_unknown="ignore"), MODEL_FEATURES[1:])])
        return Pipeline([("pre", pre), ("clf", LogisticRegression(max_iter=500))]).fit(
            reference[MODEL_FEATURES], reference["employed"])

    model = step("train logistic regression on 2015", False, train)

    def score() -> None:
        for frame in (reference, analysis):
            frame["score"] = model.predict_proba(frame[MODEL_FEATURES])[:, 1]
            frame["predicted"] = (frame["score"] >= 0.5).astype(int)

    step("score both sets", False, score)
    def import_libraries() -> None:
        imports()
        _evidently()

    step("import GX, fairlearn, Evidently, scikit-learn", True, import_libraries)

    contract = step("validation: infer contract from 2015", True,
                    lambda: infer_contract(reference[["id", *FEATURES]], id_columns=["id"]))
    validation = step("validation: GX on 208,892 rows", True, lambda: validate(analysis, contract))
    fairness = step("fairness: SEX, RAC1P, SEX & RAC1P, 200 bootstraps", True, lambda: assess_fairness(
        y_true=analysis["employed"], y_pred=analysis["predicted"], sensitive=analysis, positive_label=1,
        sensitive_features=["SEX", "RAC1P"], y_score=analysis["score"]))
    drift = step("drift: 16 features + prediction + target, HTML", True, lambda: assess_drift(
        reference=reference, current=analysis, columns=FEATURES, id_columns=["id"], prediction="score",
        target="employed"))
    performance = step("performance: overall and by group", False, lambda: assess_performance(
        y_true=analysis["employed"], y_score=analysis["score"], positive_label=1, sensitive=analysis,
        sensitive_features=["SEX", "RAC1P"]))

    wall = sum(r[1] for r in rows if r[3])
    cpu = sum(r[2] for r in rows if r[3])
    print("-" * 92)
    print(f"{'validation + fairness + drift (with imports)':<52} {wall:7.2f} s wall {cpu:7.2f} s cpu"
          f"   target <= {TARGET_SECONDS:.0f} s: {'met' if wall <= TARGET_SECONDS else 'NOT met'}")
    print(f"load average (1 min) {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: wall time counts other load too")
    print()
    report = drift.attachment("report")
    print(f"validation passed={validation.passed} results={len(validation.results)} failures={len(validation.failures)}")
    print(f"fairness   passed={fairness.passed} blocking={[(r.name, r.subject) for r in fairness.blocking]}")
    print(f"drift      passed={drift.passed} drifted share={drift.summary['drifted_share']:.3f} "
          f"html={len(report.content) / 1e6 if report else 0:.1f} MB")
    print(f"performance passed={performance.passed} roc_auc={performance.summary['overall']['roc_auc']:.3f}")


if __name__ == "__main__":
    main()
