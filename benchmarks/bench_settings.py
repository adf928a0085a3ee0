"""Typed settings: what a settings model costs, against the same app without one, in one run.

1. Resolving a deployment file whose 50 app keys (5 nested sections of 10, validators on 5 of them) are
   typed by a pydantic model, against resolving the same file with the same keys in ``schema=``.
   Target: at most 1.3x.
2. Reading ``config.settings.<key>`` in a request, against ``current_app.config["KEY"]`` in the same
   request (both pinned to the request's configuration), and against ``app.config["KEY"]`` of a Flask app
   without configsvc. Target: ``config.settings`` at most 1 µs more than ``current_app.config``.
3. ``create_app()`` of an app with ``schema=`` (``tests/inventory``) in a fresh process: pydantic is not
   imported (RSS unchanged), against the same process after ``import pydantic``. Reported.

Prints medians and ratios; asserts nothing (timings never gate tests).

    .venv/bin/python -m benchmarks.bench_settings [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import yaml
from flask import Flask, current_app
from pydantic import BaseModel, create_model, field_validator

from benchmarks.timing import PROJECT, interleaved, timed
from configsvc import Options, resolve
from configsvc.flask import ConfigService
from configsvc.options import clean_environ

SECTIONS, FIELDS = 5, 10


def _section_model(number: int) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for index in range(FIELDS):
        kind = (int, float, str, bool, list[str])[index % 5]
        default = (index, index / 2, f"v{index}", index % 2 == 0, ["a"])[index % 5]
        fields[f"field_{index}"] = (kind, default)

    def positive(cls: type, value: int) -> int:
        if value < 0:
            raise ValueError("must not be negative")
        return value

    validators = {"positive": field_validator("field_0")(classmethod(positive))}
    return create_model(f"Section{number}", __validators__=validators, **fields)


SECTION_MODELS = [_section_model(number) for number in range(SECTIONS)]
Settings: type[BaseModel] = create_model(
    "Settings", **{f"section_{n}": (model, model()) for n, model in enumerate(SECTION_MODELS)})
SCHEMA = {f"section_{n}.field_{i}": (int, float, str, bool, list)[i % 5]
          for n in range(SECTIONS) for i in range(FIELDS)}


def document() -> dict[str, Any]:
    return {"secret_key": "bench-secret-key-not-real", "celery": {"broker_url": "memory://"},
            **{f"section_{n}": {f"field_{i}": (i + 1, i * 1.5, f"t{i}", True, ["x", "y"])[i % 5]
                                for i in range(FIELDS)} for n in range(SECTIONS)}}


def resolution(runs: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "api-config.yaml"
        path.write_text(yaml.safe_dump(document(), sort_keys=False))
        environ = {"FLASK_CONFIG": str(path), "APP_SECTION_2__FIELD_0": "7"}
        with_model = Options(settings=Settings, defaults=None)
        with_schema = Options(schema=SCHEMA, defaults=None)

        def run(options: Options) -> Any:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return resolve(environ, options=options, instance_path=Path(folder))

        assert run(with_model).settings.section_2.field_0 == 7 and run(with_schema)["section_2.field_0"] == 7
        samples = interleaved(runs, {"model": timed(lambda: run(with_model)),
                                     "schema": timed(lambda: run(with_schema))})
    model, schema = statistics.median(samples["model"]), statistics.median(samples["schema"])
    ratio = model / schema
    print(f"1. resolve, 50 app keys in 5 sections (validators on 5), median of {runs} interleaved rounds")
    print(f"   settings=Model {model:7.2f} ms   schema= {schema:7.2f} ms   {ratio:.2f}x "
          f"(target <= 1.30x: {'met' if ratio <= 1.3 else 'NOT met'})")


def reads(rounds: int, per_round: int = 200_000) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "api-config.yaml"
        path.write_text(yaml.safe_dump(document(), sort_keys=False))
        service: ConfigService[Any] = ConfigService(settings=Settings, defaults=None, default_file=None)
        app = Flask("bench")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            service.init_app(app, environ={"FLASK_CONFIG": str(path)})
        plain = Flask("plain")
        plain.config["SECTION_0"] = {"field_0": 1}
        loop = range(per_round)

        def settings_reads() -> float:
            with app.test_request_context("/"):
                start = time.perf_counter()
                for _ in loop:
                    service.settings.section_0  # noqa: B018 - the read is what is measured
                return (time.perf_counter() - start) / per_round * 1e9

        def config_reads() -> float:
            with app.test_request_context("/"):
                start = time.perf_counter()
                for _ in loop:
                    current_app.config["SECTION_0"]
                return (time.perf_counter() - start) / per_round * 1e9

        def plain_reads() -> float:
            with plain.test_request_context("/"):
                start = time.perf_counter()
                for _ in loop:
                    current_app.config["SECTION_0"]
                return (time.perf_counter() - start) / per_round * 1e9

        samples = interleaved(rounds, {"settings": settings_reads, "config": config_reads,
                                       "plain": plain_reads})
    ours, theirs, flask = (statistics.median(samples[name]) for name in ("settings", "config", "plain"))
    more = (ours - theirs) / 1000
    print(f"2. one read in a request, median of {rounds} rounds of {per_round:,}")
    print(f"   config.settings.x {ours:6.0f} ns   current_app.config['X'] {theirs:6.0f} ns (pinned)   "
          f"plain Flask {flask:6.0f} ns")
    print(f"   config.settings: {more:+.3f} µs against current_app.config (target <= 1 µs: "
          f"{'met' if more <= 1 else 'NOT met'})")


_RSS = """
import sys
from tests.inventory import create_app
create_app({})
if sys.argv[1] == "pydantic":
    import pydantic
status = open("/proc/self/status").read().splitlines()
print("pydantic" in sys.modules, next(line.split()[1] for line in status if line.startswith("VmRSS")))
"""


def memory(rounds: int) -> None:
    def rss(which: str) -> tuple[bool, float]:
        done = subprocess.run([sys.executable, "-c", _RSS, which], cwd=PROJECT, env=clean_environ(),
                              capture_output=True, text=True, timeout=60, check=True)
        imported, kb = done.stdout.split()
        return imported == "True", int(kb) / 1024

    without = [rss("schema") for _ in range(rounds)]
    imported = [rss("pydantic") for _ in range(rounds)]
    assert not any(flag for flag, _ in without)
    a, b = statistics.median(mb for _, mb in without), statistics.median(mb for _, mb in imported)
    print(f"3. RSS after create_app() with schema= (tests/inventory), median of {rounds} fresh processes")
    print(f"   {a:.1f} MB, pydantic not imported; the same process after import pydantic: {b:.1f} MB "
          f"(+{b - a:.1f} MB avoided)")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    resolution(args.runs)
    reads(max(5, args.runs // 3))
    memory(5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
