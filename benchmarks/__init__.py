"""Benchmarks, run as modules (python -m benchmarks.bench_resolve): ratios against baselines measured in
the same run."""
