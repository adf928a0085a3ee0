"""The scans of untrusted text are linear: hostile inputs against benign ones of the same size, in one run.

Inputs (hardening round 3): an unterminated JSON string of escaped quotes (``{"a": "\\"\\"...``), the
same with brackets among them, and quotes only — each near the 1 MB file limit for the deployment file's
nesting check, and near the 16 KB body limit for ``POST /task/``. The baseline is a benign input of the
same size (a JSON document of short strings), through the same code.
Targets: a hostile file's nesting check at most 3x the benign one's; a hostile ``POST /task/`` at most
3x a benign body of the same size; and the nesting check grows linearly (1 MB / 100 KB at most 15x).
Before the fix the 1 MB check took about an hour. Prints medians and ratios; asserts nothing.

    .venv/bin/python -m benchmarks.bench_scan [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import statistics

from benchmarks.timing import interleaved, ratio_summary, timed
from configsvc.formats import MAX_FILE_BYTES
from configsvc.formats.limits import check_json_nesting


def hostile(size: int) -> dict[str, str]:
    return {
        "escaped quotes": ('{"a": "' + '\\"' * size)[:size],
        "escaped quotes and brackets": ('{"a": ["' + '\\"[' * size)[:size],
        "quotes only": '"' * size,
    }


def benign(size: int) -> str:
    items, length = [], 2
    while length < size:
        item = json.dumps({"name": f"item-{len(items)}", "tags": ["a", "b"]})
        items.append(item)
        length += len(item) + 2
    return "[" + ", ".join(items) + "]"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    size = MAX_FILE_BYTES - 64
    base = benign(size)
    print(f"nesting check of a {size:,}-byte file ({args.rounds} interleaved rounds, medians):")
    for name, text in hostile(size).items():
        samples = interleaved(args.rounds, {"hostile": timed(lambda t=text: check_json_nesting(t)),
                                            "benign": timed(lambda: check_json_nesting(base))})
        print(f"  {name}: {statistics.median(samples['hostile']):.1f} ms against "
              f"{statistics.median(samples['benign']):.1f} ms: "
              f"{ratio_summary(samples['hostile'], samples['benign'])} (target <= 3x)")

    small = hostile(size // 10)["escaped quotes"]
    large = hostile(size)["escaped quotes"]
    samples = interleaved(args.rounds, {"large": timed(lambda: check_json_nesting(large)),
                                        "small": timed(lambda: check_json_nesting(small))})
    print(f"  growth, {len(large):,} bytes against {len(small):,}: "
          f"{ratio_summary(samples['large'], samples['small'])} (linear: 10x; target <= 15x)")

    from app import create_app

    app = create_app({"celery": {"broker_url": "memory://", "result_backend": "cache+memory://"}},
                     environ={"APP_ENV": "testing"})
    client = app.test_client()
    limit = app.config["MAX_CONTENT_LENGTH"]
    body = benign(limit - 64).encode()

    def post(data: bytes) -> None:
        assert client.post("/task/", data=data, content_type="application/json").status_code == 400

    print(f"POST /task/ with a {limit - 64:,}-byte body (each answered 400):")
    for name, text in hostile(limit - 64).items():
        data = text.encode()
        samples = interleaved(args.rounds * 4, {"hostile": timed(lambda d=data: post(d)),
                                                "benign": timed(lambda: post(body))})
        print(f"  {name}: {statistics.median(samples['hostile']):.2f} ms against "
              f"{statistics.median(samples['benign']):.2f} ms: "
              f"{ratio_summary(samples['hostile'], samples['benign'])} (target <= 3x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
