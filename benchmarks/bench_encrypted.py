"""Resolving an encrypted deployment file against the same file in plaintext, in one run.

Input: a deployment file with 100 encrypted values (and the same file unencrypted).
Target (issue 3): encrypted at most 2x plaintext. Prints medians and the ratio; asserts nothing.

    .venv/bin/python benchmarks/bench_encrypted.py [--runs N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import yaml

from benchmarks.timing import median_ms
from configsvc import resolve
from configsvc.crypto import keys
from configsvc.crypto.document import seal
from configsvc.formats import dump_yaml, parse_yaml


def document() -> dict[str, object]:
    services = {f"service_{i}": {"url": f"https://u{i}:p{i}@svc{i}.internal/api", "token": f"t-{i}",
                                 "timeout": 30 + i, "enabled": i % 2 == 0, "retries": 3}
                for i in range(20)}  # 100 values
    return {"secret_key": "k" * 32, "celery": {"broker_url": "amqp://app:pw@rabbit//"}, **services}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    key = keys.generate()
    with tempfile.TemporaryDirectory() as folder:
        plain = Path(folder) / "plain.yaml"
        plain.write_text(yaml.safe_dump(document(), sort_keys=False))
        encrypted = Path(folder) / "encrypted.yaml"
        sealed = seal(parse_yaml(plain.read_text()).data, keys.parse(key, "bench"),
                      only=r"^service_")
        encrypted.write_text(dump_yaml(sealed))
        count = encrypted.read_text().count("ENC[")
        assert count == 100, count

        def run(path: Path) -> Callable[[], object]:
            # the plaintext file is read with no master key configured (with one, it would be refused)
            environ = {"FLASK_CONFIG": str(path), **({"CONFIGSVC_KEY": key} if path == encrypted else {})}

            def resolve_once() -> object:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return resolve(environ, instance_path=Path(folder))
            return resolve_once

        assert run(encrypted)().as_dict(reveal_secrets=True) == run(plain)().as_dict(  # type: ignore[attr-defined]
            reveal_secrets=True)
        plain_ms = median_ms(run(plain), args.runs)
        encrypted_ms = median_ms(run(encrypted), args.runs)
    ratio = encrypted_ms / plain_ms
    print(f"input: {count} encrypted values; median of {args.runs} runs")
    print(f"  plaintext  {plain_ms:7.2f} ms")
    print(f"  encrypted  {encrypted_ms:7.2f} ms")
    print(f"  encrypted / plaintext {ratio:5.2f}x  (target <= 2.00x: {'met' if ratio <= 2 else 'NOT met'})")
    return 0 if ratio <= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
