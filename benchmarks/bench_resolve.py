"""Resolution speed against Flask's minimal path and plain dynaconf, on the same input, in one run.

Input: a realistic deployment file with 150 nested sections plus 20 ``APP_*`` variables.
Baselines:
  flask     Flask.config.from_file(path, yaml.safe_load) + Flask.config.from_prefixed_env("APP")
  dynaconf  Dynaconf(settings_files=[path], envvar_prefix="APP"), fully loaded
Target (issue 2): configsvc.resolve at most 0.5x each baseline, while layering, typing, validating and
tracking provenance. Prints medians and ratios; asserts nothing (timings never gate tests).

    .venv/bin/python benchmarks/bench_resolve.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import warnings
from pathlib import Path

import yaml
from dynaconf import Dynaconf
from flask import Flask

from benchmarks.timing import interleaved, timed
from configsvc import Options, resolve

OPTIONS = Options(schema={"port": int, "admin_token": str})  # the app's own typed keys


def realistic_document() -> dict[str, object]:
    def section(i: int) -> dict[str, object]:
        return {
            "enabled": i % 2 == 0,
            "url": f"https://svc{i}.internal:8443/api/v{i % 3}",
            "timeout": 30 + i,
            "ratio": 0.25 * (i % 4),
            "tags": ["edge", "core", f"team-{i % 7}"],
            "limits": {"rps": 100 + i, "burst": 20, "window": {"seconds": 60, "mode": "sliding"}},
            "owner": f"team-{i % 7}@example.com",
        }

    document: dict[str, object] = {
        "port": 8080,
        "secret_key": "bench-secret-key-not-real",
        "admin_token": "bench-admin-token",
        "celery": {
            "broker_url": "amqp://app:pass@rabbit:5672//",
            "result_backend": "redis://localhost:6379/0",
            "task_acks_late": True,
            "worker_prefetch_multiplier": 1,
        },
    }
    document.update({f"service_{i}": section(i) for i in range(150)})
    return document


ENVIRONMENT = {
    "APP_PORT": "9090",
    "APP_SECRET_KEY": "from-env",
    "APP_DEBUG": "false",
    "APP_CELERY__WORKER_PREFETCH_MULTIPLIER": "4",
    "APP_CELERY__TASK_ACKS_LATE": "true",
    "APP_CELERY__RESULT_EXPIRES": "3600",
    "APP_CELERY__BROKER_POOL_LIMIT": "10",
    "APP_CELERY__TASK_DEFAULT_QUEUE": "bench",
    **{f"APP_SERVICE_{i}__TIMEOUT": str(90 + i) for i in range(0, 120, 10)},
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    assert len(ENVIRONMENT) == 20

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "api-config.yaml"
        path.write_text(yaml.safe_dump(realistic_document(), sort_keys=False))
        lines = len(path.read_text().splitlines())
        # The baselines read os.environ themselves; configsvc is given the same variables as a dict.
        os.environ.update(ENVIRONMENT)
        environ = {**ENVIRONMENT, "FLASK_CONFIG": str(path)}

        def flask_minimal() -> object:
            app = Flask("bench")
            app.config.from_file(str(path), yaml.safe_load)
            app.config.from_prefixed_env("APP")
            return app.config

        def plain_dynaconf() -> object:
            return Dynaconf(settings_files=[str(path)], envvar_prefix="APP").as_dict()

        def configsvc_resolve() -> object:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return resolve(environ, options=OPTIONS, instance_path=Path(folder) / "instance")

        # Same answer check: the layered result has the env override and the file's sections.
        config = configsvc_resolve()
        assert config["port"] == 9090 and config["service_10.timeout"] == "100"  # type: ignore[attr-defined]
        assert config["service_11.timeout"] == 41  # type: ignore[attr-defined]

        sides = {"flask": flask_minimal, "dynaconf": plain_dynaconf, "configsvc": configsvc_resolve}
        for run in sides.values():
            run()  # warm-up
        # Interleaved rounds (each round runs all three, rotating which goes first), so drift on a shared
        # machine hits all of them alike.
        samples = interleaved(args.runs, {name: timed(run) for name, run in sides.items()})
        results = {name: statistics.median(values) for name, values in samples.items()}

    print(f"input: {lines} lines, 150 nested sections, {len(ENVIRONMENT)} APP_* variables; "
          f"median of {args.runs} interleaved rounds")
    for name, value in results.items():
        print(f"  {name:<10} {value:8.2f} ms")
    met = True
    for baseline in ("flask", "dynaconf"):
        ratio = results["configsvc"] / results[baseline]
        ok = ratio <= 0.5
        met &= ok
        print(f"  configsvc / {baseline:<9} {ratio:5.2f}x  (target <= 0.50x: {'met' if ok else 'NOT met'})")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
