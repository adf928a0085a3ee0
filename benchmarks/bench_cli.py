"""``configsvc check`` (importing configsvc, finding the app, resolving its configuration) against
``flask --app app routes`` (importing Flask and building the same app), wall time, one run.

Target: ``configsvc check`` at most 1.5x ``flask routes``. Both are run from the checkout as a user runs
them, in interleaved rounds (rotating which goes first); medians and the per-round ratios are printed.

    .venv/bin/python -m benchmarks.bench_cli [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.timing import interleaved, ratio_summary
from configsvc.options import clean_environ

PROJECT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def wall(*command: str) -> float:
    """Seconds one run of ``command`` takes, from the checkout, with a clean environment."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=PROJECT, env=clean_environ(), capture_output=True, timeout=120)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{command} failed: {done.stderr.decode()[-500:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    wall(str(BIN / "configsvc"), "check"), wall(str(BIN / "flask"), "--app", "app", "routes")  # warm caches
    samples = interleaved(args.rounds, {
        "check": lambda: wall(str(BIN / "configsvc"), "check"),
        "routes": lambda: wall(str(BIN / "flask"), "--app", "app", "routes"),
    })
    print(f"configsvc check {statistics.median(samples['check']) * 1000:.0f} ms, flask --app app routes "
          f"{statistics.median(samples['routes']) * 1000:.0f} ms, ratio "
          f"{ratio_summary(samples['check'], samples['routes'])} (target <= 1.50x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
