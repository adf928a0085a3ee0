"""The fuzz harness in every run: each target replays its seed corpus (every input the hardening run
found: segfaults, recursion, leaks, alias bombs, hostile bodies), then fuzzes for a few seconds.

Each target runs in a child process (``python -m tests.fuzz``), so a segfault is a failed test with the
input named, not a dead test run. ``make fuzz`` runs the same harness for longer.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.reference import PROJECT

# A short run of each target in the suite; `make fuzz` runs them for 10 minutes.
SECONDS = float(os.environ.get("CONFIGSVC_FUZZ_SECONDS", "2"))


@pytest.mark.parametrize("target", ["loader", "encrypted", "environment", "http", "sops", "urls",
                                    "providers"])
def test_fuzz_target(target: str) -> None:
    done = subprocess.run([sys.executable, "-m", "tests.fuzz", "--target", target, "--seconds", str(SECONDS)],
                          cwd=PROJECT, capture_output=True, text=True, timeout=300)
    print(done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "")
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert f"fuzz {target}: " in done.stdout and " 0 crashes" in done.stdout
