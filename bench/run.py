"""Run every benchmark (`bench/bench_*.py`, sorted), each in its own process; `make bench` calls this.

Output streams as it comes, under a header per script. Exit status: non-zero if any script failed.
Benchmarks print figures; they are not timed tests and assert nothing about speed.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if not scripts:
        print(f"no bench_*.py in {HERE}", file=sys.stderr)
        return 1
    failed = []
    for script in scripts:
        print(f"\n=== {script.name} " + "=" * max(0, 70 - len(script.name)), flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, str(script), *sys.argv[1:]], cwd=HERE.parent)
        took = time.perf_counter() - started
        status = "ok" if code == 0 else f"FAILED (exit {code})"
        print(f"--- {script.name}: {status} in {took:.1f} s", flush=True)
        if code != 0:
            failed.append(script.name)
    if failed:
        print(f"\n{len(failed)} benchmark(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"\nall {len(scripts)} benchmark(s) ran")
    return 0


if __name__ == "__main__":
    sys.exit(main())
