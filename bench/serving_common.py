"""What the serving benchmarks share (`bench_serving.py`, `bench_growth.py`): figures with their spread,
a throwaway PostgreSQL database, and the backends ``--backend`` keeps."""

from __future__ import annotations

import os
import secrets
import statistics
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PG_URL = os.environ.get("GOVFLOW_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def chosen_backends(argv: list[str]) -> tuple[str, ...]:
    """``--backend sqlite|postgresql`` (or ``--backend=...``): only that one; both without it."""
    for i, arg in enumerate(argv):
        if arg == "--backend" or arg.startswith("--backend="):
            value = arg.partition("=")[2] if "=" in arg else (argv[i + 1] if i + 1 < len(argv) else "")
            if value not in ("sqlite", "postgresql"):
                raise SystemExit(f"--backend: choose sqlite or postgresql; got '{value}'")
            return (value,)
    return ("sqlite", "postgresql")


BACKENDS = chosen_backends(sys.argv[1:])


def spread(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return statistics.median(ordered), pick(0.10), pick(0.90)


def show(label: str, samples: list[float], unit: str, scale: float = 1.0, target: str = "", digits: int = 1) -> float:
    med, p10, p90 = spread(samples)
    print(f"  {label:<52} median {med * scale:10,.{digits}f} {unit}  (p10 {p10 * scale:,.{digits}f}, "
          f"p90 {p90 * scale:,.{digits}f}, n={len(samples)}){'  ' + target if target else ''}", flush=True)
    return med


@contextmanager
def pg_database(keep_name: str | None = None) -> Iterator[str | None]:
    """A fresh PostgreSQL database (None when no server answers); dropped after."""
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    name = keep_name or f"gf_bench_{secrets.token_hex(4)}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as e:
        print(f"  PostgreSQL at {PG_URL} not reachable, skipped: {str(e).strip().splitlines()[0]}")
        yield None
        return
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def backends(tmp: Path) -> Iterator[tuple[str, str | None, Path]]:
    """("SQLite", None, home), then ("PostgreSQL", url, home) when reachable (those `--backend` keeps)."""
    if "sqlite" in BACKENDS:
        yield "SQLite", None, tmp / "sqlite"
    if "postgresql" in BACKENDS:
        with pg_database() as url:
            if url:
                yield "PostgreSQL", url, tmp / "pg"
