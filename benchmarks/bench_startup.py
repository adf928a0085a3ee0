"""How fast the ``configsvc`` command starts and how much memory an app built on configsvc holds. One run.

1. ``configsvc --help`` against ``python -c "import flask"``, wall time of whole processes in interleaved
   rounds (rotating which goes first). Target: at most 1.2x.
2. ``import configsvc`` alone against ``import flask`` (the same way). Reported, no target.
3. RSS after ``create_app()``: the reference app (configsvc, plaintext configuration, an in-memory broker)
   against the Flask-pattern baseline of ``benchmarks/baseline_app.py`` with the same broker, each in
   fresh processes, medians. Target: at most the baseline + 4 MB.

``configsvc fleet --wait`` after the last switch is measured where the switch happens, in
``bench_rotation``.

    .venv/bin/python -m benchmarks.bench_startup [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

from benchmarks.timing import PROJECT, interleaved, ratio_summary, wall
from configsvc.options import clean_environ

BIN = Path(sys.executable).parent

# Prints the process's resident set after the app is built (Linux: /proc/self/status, kB).
_RSS = """
import sys
if sys.argv[1] == "configsvc":
    from app import create_app
    create_app({"celery": {"broker_url": "memory://", "result_backend": "cache+memory://"}},
               environ={"APP_ENV": "testing"})
else:
    from benchmarks.baseline_app import create_app
    create_app()
with open("/proc/self/status") as status:
    print(next(line.split()[1] for line in status if line.startswith("VmRSS")))
"""


def rss_kb(which: str) -> float:
    env = {**clean_environ(), "BASELINE_BROKER": "memory://", "BASELINE_BACKEND": "cache+memory://"}
    done = subprocess.run([sys.executable, "-c", _RSS, which], cwd=PROJECT, env=env, capture_output=True,
                          text=True, timeout=120, check=True)
    return float(done.stdout.strip())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=21)
    args = parser.parse_args()
    python = sys.executable
    wall(str(BIN / "configsvc"), "--help"), wall(python, "-c", "import flask")  # warm the caches
    started = interleaved(args.rounds, {
        "help": lambda: wall(str(BIN / "configsvc"), "--help"),
        "import configsvc": lambda: wall(python, "-c", "import configsvc"),
        "import flask": lambda: wall(python, "-c", "import flask"),
    })
    flask_ms = statistics.median(started["import flask"]) * 1000
    print(f"configsvc --help {statistics.median(started['help']) * 1000:.0f} ms against python -c 'import "
          f"flask' {flask_ms:.0f} ms: {ratio_summary(started['help'], started['import flask'])} "
          "(target <= 1.20x)")
    print(f"python -c 'import configsvc' {statistics.median(started['import configsvc']) * 1000:.0f} ms: "
          f"{ratio_summary(started['import configsvc'], started['import flask'])} of import flask")
    memory = interleaved(max(5, args.rounds // 3), {
        "configsvc": lambda: rss_kb("configsvc"), "baseline": lambda: rss_kb("baseline")})
    ours, base = (statistics.median(memory[name]) / 1024 for name in ("configsvc", "baseline"))
    print(f"RSS after create_app(): reference app {ours:.1f} MB against the Flask-pattern baseline "
          f"{base:.1f} MB: +{ours - base:.1f} MB (target <= +4.0 MB; {len(memory['baseline'])} processes "
          "each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
