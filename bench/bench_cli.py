"""Command latency (#17 item 2): what a user waits for, each figure the median of several runs.

On a new home: `govflow demo` (the first run: it starts the reused Prefect server), then, side by side
with their targets:

* ``govflow --help``;
* ``run train`` with a misspelt config key (target: at most 1.5x ``--help``): refused before Prefect;
* a cold ``run gate`` on data/credit-scoring.govflow.yaml, a new process against the reused server,
  its gate run by the home's warm runner (`govflow.prefect_runner`; target: at most 2x the same gate run
  again inside a warm process); the same cold gate run in the command's own process
  (``GOVFLOW_WARM_RUNNER=0``), and in ephemeral mode (``GOVFLOW_PREFECT=ephemeral``, which decided the default);
* ``verify`` on the demo ledger.

Wall-clock seconds on a shared machine: the load average is printed with the figures. Usage:
``python bench/bench_cli.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOVFLOW = str(Path(sys.executable).with_name("govflow"))
CONFIG = ROOT / "data" / "credit-scoring.govflow.yaml"

WARM_GATE = """
import sys, time
from pathlib import Path
from govflow import settings
home = Path(sys.argv[1])
settings.configure(home)
from govflow.flows import recording
from govflow.flows.gate import gate_flow
from govflow.governance.ledger.engine import Ledger
recording.set_ledger(Ledger.open(None, home))
gate_flow(sys.argv[2], "1")  # warms imports, the Prefect client and the ledger
times = []
for _ in range(int(sys.argv[3])):
    started = time.perf_counter()
    gate_flow(sys.argv[2], "1")
    times.append(time.perf_counter() - started)
print(sorted(times)[len(times) // 2])
"""


def env(home: Path, **extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items()
           if k not in ("GOVFLOW_HOME", "GOVFLOW_DB_URL", "PREFECT_API_URL", "PREFECT_HOME", "GOVFLOW_PREFECT")}
    return {**out, "GOVFLOW_HOME": str(home), **extra}


def timed(args: list[str], home: Path, ok: tuple[int, ...] = (0,), **extra: str) -> float:
    started = time.perf_counter()
    done = subprocess.run(args, cwd=ROOT, env=env(home, **extra), capture_output=True, text=True)
    took = time.perf_counter() - started
    if done.returncode not in ok:
        raise SystemExit(f"{' '.join(args)} exited {done.returncode}: {done.stderr.strip()[-800:]}")
    return took


def median(args: list[str], home: Path, runs: int, ok: tuple[int, ...] = (0,), **extra: str) -> float:
    return statistics.median(timed(args, home, ok, **extra) for _ in range(runs))


def misspelt_config(folder: Path) -> Path:
    text = CONFIG.read_text().replace("  target: creditability", "  targett: creditability")
    text = text.replace("train: german_credit.csv", f"train: {CONFIG.parent / 'german_credit.csv'}")
    path = folder / "misspelt.govflow.yaml"
    path.write_text(text)
    return path


def wait_for_runner(home: Path, timeout: float = 900) -> str:
    """Until the home's warm gate runner is ready (`govflow.prefect_runner`); how long that took after the demo."""
    from govflow import prefect_runner

    started = time.monotonic()
    while time.monotonic() - started < timeout:
        state = prefect_runner.read_state(home)
        if state is not None and state.ready and prefect_runner.current(state):
            return f"ready {time.monotonic() - started:.0f} s after the demo"
        time.sleep(1)
    return "NOT READY: the cold gates below ran in their own process"


def row(what: str, seconds: float, target: str = "") -> None:
    print(f"  {what:<58} {seconds:7.2f} s  {target}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    folder = Path(tempfile.mkdtemp(prefix="govflow-bench-cli-"))
    home = folder / "home"
    # The demo puts in force the policy of its own config copies (they name its allowed-signers file):
    # a gate on the bundled config would stop at the policy difference instead of running the checks.
    gated = home / "demo" / CONFIG.name
    gate = [GOVFLOW, "run", "gate", "-c", str(gated), "--version", "1"]
    try:
        print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
        row("govflow demo on a new home (starts the reused server)", timed([GOVFLOW, "demo"], home))
        help_s = median([GOVFLOW, "--help"], home, runs)
        row("govflow --help", help_s)
        misspelt = median([GOVFLOW, "run", "train", "-c", str(misspelt_config(folder))], home, runs, ok=(2,))
        row("run train, misspelt config key (exit 2)", misspelt,
            f"{misspelt / help_s:.2f}x --help (target <= 1.5x) {'ok' if misspelt <= 1.5 * help_s else 'MISSED'}")
        ready = wait_for_runner(home)
        cold = median(gate, home, runs, ok=(0, 1))
        own = median(gate, home, runs, ok=(0, 1), GOVFLOW_WARM_RUNNER="0")
        warm_out = subprocess.run([sys.executable, "-c", WARM_GATE, str(home), str(gated), str(runs)], cwd=ROOT,
                                  env=env(home), capture_output=True, text=True)
        if warm_out.returncode != 0:
            raise SystemExit(f"the warm in-process gate exited {warm_out.returncode}: {warm_out.stderr.strip()[-1500:]}")
        warm = float(warm_out.stdout.strip().splitlines()[-1])
        row("run gate in a warm process", warm)
        row(f"run gate, cold process, warm runner ({ready})", cold,
            f"{cold / warm:.2f}x warm (target <= 2x) {'ok' if cold <= 2 * warm else 'MISSED'}")
        row("run gate, cold process, gate in it (GOVFLOW_WARM_RUNNER=0)", own, f"{own / warm:.2f}x warm")
        own_db = {"GOVFLOW_PREFECT": "ephemeral", "PREFECT_HOME": str(folder / "prefect-ephemeral")}  # not the server's
        timed(gate, home, (0, 1), **own_db)  # its new database is migrated once, untimed
        ephemeral = median(gate, home, runs, ok=(0, 1), **own_db)
        row("run gate, cold process, ephemeral Prefect (GOVFLOW_PREFECT)", ephemeral, f"{ephemeral / warm:.2f}x warm")
        row("verify on the demo ledger", median([GOVFLOW, "verify"], home, runs))
        print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    finally:
        subprocess.run([GOVFLOW, "server", "stop"], cwd=ROOT, env=env(home), capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
