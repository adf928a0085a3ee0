"""``python -m tests.fuzz [--target T] [--seconds S] [--seed N]``: replay the corpus, then fuzz.

Each target runs in a child process (``--child``), so an interpreter crash is reported with the input
that caused it. Prints, per target, the inputs tried and the crashes; exit 1 on any crash or finding.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from tests.fuzz.corpus import SEEDS
from tests.fuzz.mutate import mutate

PER_INPUT_SECONDS = 10
MEMORY_LIMIT = 3 * 1024**3


def _timeout(signum: int, frame: Any) -> None:
    raise TimeoutError("one input took longer than the limit")


def child(target: str, seconds: float, seed: int, last: Path) -> int:
    """Run one target in this process; the input being tried is kept in ``last``."""
    from tests.fuzz import targets

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    signal.signal(signal.SIGALRM, _timeout)
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        context = targets.prepare(target, work)
        seeds = SEEDS[target]() or targets.run_time_seeds(target, work)
        run = targets.TARGETS[target]
        tried = crashes = 0
        deadline = time.monotonic() + seconds
        inputs = iter(seeds)
        while True:
            data = next(inputs, None)
            if data is None:
                if time.monotonic() >= deadline:
                    break
                data = mutate(rng, rng.choice(seeds))
            last.write_bytes(data)
            tried += 1
            signal.alarm(PER_INPUT_SECONDS)
            try:
                run(data, work, context)
            except Exception as error:  # anything but ConfigError leaving configsvc is a crash
                crashes += 1
                kept = Path(tempfile.mkstemp(prefix=f"fuzz-{target}-", suffix=".input")[1])
                kept.write_bytes(data)
                print(f"CRASH {target}: {type(error).__name__} (input kept in {kept})", flush=True)
                traceback.print_exc(limit=4)
            finally:
                signal.alarm(0)
    print(f"fuzz {target}: {tried} inputs tried, {crashes} crashes, {seconds:g} s after the corpus",
          flush=True)
    return 1 if crashes else 0


def parent(names: list[str], seconds: float, seed: int) -> int:
    failed = False
    for name in names:
        with tempfile.NamedTemporaryFile(prefix=f"fuzz-{name}-", suffix=".last", delete=False) as handle:
            last = Path(handle.name)
        done = subprocess.run([sys.executable, "-m", "tests.fuzz", "--child", "--target", name,
                               "--seconds", str(seconds), "--seed", str(seed), "--last", str(last)],
                              check=False)
        if done.returncode < 0:
            print(f"CRASH {name}: the interpreter died with signal {-done.returncode}; the input is in "
                  f"{last}", flush=True)
            failed = True
        else:
            failed |= done.returncode != 0
            last.unlink(missing_ok=True)
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz")
    parser.add_argument("--target", action="append", choices=sorted(SEEDS),
                        help="one target (repeatable; default: all)")
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="fuzzing time per target, after the corpus")
    parser.add_argument("--seed", type=int, default=int(os.environ.get("FUZZ_SEED", "1")))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--last", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    names = args.target or sorted(SEEDS)
    if args.child:
        return child(names[0], args.seconds, args.seed, args.last)
    return parent(names, args.seconds, args.seed)


if __name__ == "__main__":
    sys.exit(main())
