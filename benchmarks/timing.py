"""The timing helpers the benchmarks share: medians, and interleaved rounds compared pair by pair."""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from configsvc.options import clean_environ

PROJECT = Path(__file__).resolve().parent.parent


def wall(*command: str) -> float:
    """Seconds one run of ``command`` takes, from the checkout, with a clean environment."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=PROJECT, env=clean_environ(), capture_output=True, timeout=120)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{command} failed: {done.stderr.decode()[-500:]}")
    return elapsed


def median_ms(run: Callable[[], object], runs: int) -> float:
    """Median wall time of ``run`` in milliseconds, after one warm-up call."""
    run()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def timed(run: Callable[[], object]) -> Callable[[], float]:
    """``run`` as one measurement for :func:`interleaved`: a callable returning its wall time in ms."""
    def once() -> float:
        start = time.perf_counter()
        run()
        return (time.perf_counter() - start) * 1000

    return once


def interleaved(rounds: int, sides: Mapping[str, Callable[[], float]]) -> dict[str, list[float]]:
    """Run every side once per round, rotating which goes first, so drift hits all of them alike.
    Each callable returns one measurement; the lists hold them in round order."""
    names = list(sides)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for number in range(rounds):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(sides[name]())
    return samples


def ratio_summary(ours: list[float], base: list[float]) -> str:
    """The ratio of the medians, ours/base, and the spread of the per-round ratios (quartiles):
    ``0.98x (per round 0.95-1.02, 41 rounds)``. Rounds alternate which side goes first, so the per-round
    ratios can be two-humped; the medians of each side are what is compared."""
    ratio = statistics.median(ours) / statistics.median(base)
    ratios = sorted(a / b for a, b in zip(ours, base, strict=True))
    if len(ratios) < 4:
        return f"{ratio:.3f}x ({len(ratios)} rounds)"
    quartiles = statistics.quantiles(ratios, n=4)
    return f"{ratio:.3f}x (per round {quartiles[0]:.3f}-{quartiles[2]:.3f}, {len(ratios)} rounds)"
