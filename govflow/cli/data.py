"""`govflow data fetch movielens-100k`: the one command that fetches data from outside.

MovieLens 100k may not be redistributed, so govflow does not ship it: it ships inside the
``recbole==1.2.1`` wheel, which this command downloads with pip (``pip download --no-deps``, like
an install step: the package index configured for pip), checks against a pinned sha256, and reads
``recbole/dataset_example/ml-100k/ml-100k.{inter,user,item}`` out of with `zipfile`, without
installing recbole (its import needs torch). The files land in ``<home>/data/movielens-100k/``
beside a ``SOURCE.txt`` (where they came from, the licence terms) and a starter ``govflow.yaml``
for the recommender; the govflow home is never committed.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from govflow.cli.context import ctx
from govflow.errors import DataError, InputError

DATASETS = ("movielens-100k",)
PACKAGE = "recbole==1.2.1"
WHEEL = "recbole-1.2.1-py3-none-any.whl"
WHEEL_SHA256 = "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"
MEMBERS = {f"recbole/dataset_example/ml-100k/ml-100k.{kind}": f"ml-100k.{kind}" for kind in ("inter", "user", "item")}
SOURCE = """MovieLens 100k (F. Maxwell Harper and Joseph A. Konstan. 2015. The MovieLens Datasets: History and
Context. ACM TiiS 5(4): 19), GroupLens Research, University of Minnesota. Its licence forbids
redistribution: keep these files out of any repository or bundle.
Read from {wheel} (sha256 {sha256}), the RecBole atomic-file version of the data set
(recbole/dataset_example/ml-100k/), by `govflow data fetch movielens-100k`.
"""
STARTER = """# The recommendation scenario: a movie recommender on MovieLens 100k (files beside this one).
kind: recommender
system:
  name: movielens-recommender
  intended_purpose: Recommend films to the users of a movie site from their past ratings
  annex_iii: null
data:
  folder: .
  prefix: ml-100k
  # Monitored for exposure, never model inputs; age bands are left-closed.
  sensitive_features: [gender, {column: age, bins: [0, 25, 35, 50, 120]}]
model: {estimator: implicit_svd, factors: 32, top_n: 10}
evaluation: {hit_rate_min: 0.05, beat_popularity: true}  # the offline gate
policy:
  approvals: [model_owner, risk_officer]
  fairness: {min_group_size: 30}
"""
UNKNOWN = "unknown data set '{name}'; available: {known}"
BAD_HASH = ("{wheel} has sha256 {found}, not the pinned {expected}: refusing to read data from it "
            "(pass --sha256 with the hash of a wheel you have checked yourself)")
PIP_FAILED = "pip could not download {package} ({reason}); check the network or pip's index settings, or pass --wheel PATH"



@dataclass(frozen=True)
class Fetched:
    folder: Path
    wheel_sha256: str
    rows: dict[str, int]  # file -> data rows (header excluded)
    config: Path


def download_wheel(folder: Path) -> Path:
    """``pip download --no-deps recbole==1.2.1`` into ``folder``; the wheel's path."""
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--quiet", PACKAGE, "-d", str(folder)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    wheel = folder / WHEEL
    if result.returncode != 0 or not wheel.exists():
        reason = (result.stderr.strip().splitlines() or [f"exit code {result.returncode}"])[-1]
        raise DataError(PIP_FAILED.format(package=PACKAGE, reason=reason))
    return wheel


def extract_movielens(wheel: Path, target: Path, *, expected_sha256: str | None = WHEEL_SHA256) -> Fetched:
    """The three atomic files out of the wheel into ``target`` (with SOURCE.txt and a starter config)."""
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if expected_sha256 is not None and digest != expected_sha256:
        raise DataError(BAD_HASH.format(wheel=wheel, found=digest, expected=expected_sha256))
    target.mkdir(parents=True, exist_ok=True)
    rows = {}
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = set(archive.namelist())
            missing = [m for m in MEMBERS if m not in names]
            if missing:
                raise DataError(f"{wheel} holds no {', '.join(missing)}: not the recbole wheel expected")
            for member, name in MEMBERS.items():
                data = archive.read(member)
                (target / name).write_bytes(data)
                rows[name] = max(0, data.count(b"\n") - 1 + (0 if data.endswith(b"\n") else 1))
    except zipfile.BadZipFile as e:
        raise DataError(f"{wheel} is not a wheel (zip) file: {e}") from e
    (target / "SOURCE.txt").write_text(SOURCE.format(wheel=wheel.name, sha256=digest), encoding="utf-8")
    config = target / "govflow.yaml"
    if not config.exists():
        config.write_text(STARTER, encoding="utf-8")
    return Fetched(target, digest, rows, config)


def fetch(
    typer_ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The data set: movielens-100k.")],
    wheel: Annotated[Path | None, typer.Option("--wheel", help="Use this recbole-1.2.1 wheel instead of downloading it.")] = None,
    sha256: Annotated[str | None, typer.Option("--sha256", help="Expect this wheel hash instead of the pinned one.")] = None,
) -> None:
    """Fetch a data set govflow may not redistribute into the govflow home."""
    if name not in DATASETS:
        raise InputError(UNKNOWN.format(name=name, known=", ".join(DATASETS)))
    home = ctx(typer_ctx).home
    if wheel is None:
        typer.echo(f"downloading {PACKAGE} with pip (it carries MovieLens 100k) ...")
        wheel = download_wheel(home / "downloads")
    elif not wheel.exists():
        raise InputError(f"--wheel {wheel}: file not found")
    fetched = extract_movielens(wheel, home / "data" / name, expected_sha256=sha256 or WHEEL_SHA256)
    counts = ", ".join(f"{file} {n} rows" for file, n in fetched.rows.items())
    typer.echo(f"MovieLens 100k in {fetched.folder}: {counts} (wheel sha256 {fetched.wheel_sha256[:16]}...)")
    typer.echo("not redistributable: keep it out of repositories (see SOURCE.txt there)")
    typer.echo(f"next: govflow recommender train -c {fetched.config}")
