"""``configsvc check`` (importing configsvc, finding the app, resolving its configuration) against
``flask --app app routes`` (importing Flask and building the same app), wall time, one run.

Target: ``configsvc check`` at most 1.5x ``flask routes``. Both are run from the checkout as a user runs
them, in interleaved rounds (rotating which goes first); medians and the per-round ratios are printed.

    .venv/bin/python -m benchmarks.bench_cli [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from benchmarks.timing import interleaved, ratio_summary, wall

BIN = Path(sys.executable).parent


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
