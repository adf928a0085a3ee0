"""pytest fixtures for apps built on configsvc. Enable them in your ``conftest.py``::

    pytest_plugins = ["configsvc.testing"]

    @pytest.fixture
    def configsvc_options():               # tell the fixtures your app's options (prefix, file variable)
        from yourapp.extensions import config
        return config.options

Then a test writes a deployment file and starts a real worker for the app::

    def test_report_task(deployment_file, celery_worker_process):
        path = deployment_file({"secret_key": "s", "celery": {"broker_url": "redis://localhost/0"}})
        with celery_worker_process("yourapp.worker.celery", {"FLASK_CONFIG": str(path)}) as worker:
            ...

``configsvc_clean_environment`` removes every variable that could change a resolution (the app's prefix,
its deployment-file variable, ``CONFIGSVC_*``, dynaconf's); use it autouse in your own conftest.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from configsvc.options import Options, clean_environ

__all__ = ["WorkerProcess", "clean_environ", "run_celery_worker", "stop_process_group"]

WORKER_READY_SECONDS = 60.0
WORKER_STOP_SECONDS = 20.0


@pytest.fixture
def configsvc_options() -> Options:
    """The options of the app under test. Override it in your conftest to return your service's
    ``config.options``; the default is configsvc's default options."""
    return Options()


#: prometheus_client's multiprocess folder variable (configsvc.metrics.folder sets it).
METRICS_FOLDER_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


@pytest.fixture
def configsvc_clean_environment(monkeypatch: pytest.MonkeyPatch, configsvc_options: Options) -> None:
    """Remove every variable that could change a resolution from the process environment; and the metrics
    folder's, which an app that enables metrics names there for the processes it starts: a test whose app
    enabled metrics must not hand its folder to the workers and servers later tests start (their counts
    would add up with its). Each is as it was before the test afterwards."""
    kept = clean_environ(os.environ, configsvc_options)
    for name in list(os.environ):
        if name not in kept:
            monkeypatch.delenv(name)
    monkeypatch.setenv(METRICS_FOLDER_VARIABLE, "")  # recorded, so that the end of the test restores it
    monkeypatch.delenv(METRICS_FOLDER_VARIABLE)


@pytest.fixture
def deployment_file(tmp_path: Path) -> Callable[..., Path]:
    """Write a deployment file for the test: ``deployment_file(mapping_or_text, name="api-config.yaml")``.

    A mapping is written as YAML, or JSON for a ``.json`` name; text and bytes are written as they are.
    Returns the file's path (under the test's ``tmp_path``).
    """

    def write(content: Any, name: str = "api-config.yaml", mode: int | None = None) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        elif path.suffix.lower() == ".json":
            path.write_text(json.dumps(content, indent=2), encoding="utf-8")
        else:
            import yaml

            path.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
        if mode is not None:
            path.chmod(mode)
        return path

    return write


@dataclass
class WorkerProcess:
    """A running ``celery worker``: its process and log file."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """Everything the worker printed so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def stop_process_group(process: subprocess.Popen[bytes], timeout: float = WORKER_STOP_SECONDS) -> None:
    """SIGTERM the process's group (a warm shutdown for a worker), SIGKILL it after ``timeout`` seconds."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def run_celery_worker(target: str, environ: Mapping[str, str], log_path: Path, *,
                      cwd: Path | None = None, args: tuple[str, ...] = ("--pool=solo",),
                      options: Options | None = None) -> Iterator[WorkerProcess]:
    """``celery -A TARGET worker ARGS`` as a user starts it, with the process environment cleaned of
    configuration variables plus ``environ``; waits until it is ready, stops it (warm) afterwards."""
    celery = Path(sys.executable).parent / "celery"
    env = {**clean_environ(os.environ, options), **environ}
    with open(log_path, "wb") as out:
        process = subprocess.Popen(
            [str(celery if celery.exists() else "celery"), "-A", target, "worker", "-l", "info", *args],
            env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    worker = WorkerProcess(process, log_path)
    try:
        deadline = time.monotonic() + WORKER_READY_SECONDS
        while not re.search(r"\bready\.", worker.log()):
            if process.poll() is not None:
                raise RuntimeError(f"the celery worker exited: {worker.log()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the celery worker was not ready in {WORKER_READY_SECONDS} s: "
                                   f"{worker.log()[-2000:]}")
            time.sleep(0.1)
        yield worker
    finally:
        stop_process_group(process)


@pytest.fixture
def celery_worker_process(tmp_path: Path, configsvc_options: Options
                          ) -> Callable[..., AbstractContextManager[WorkerProcess]]:
    """Start a real worker for the app: ``with celery_worker_process(target, environ, **kw) as worker``.

    ``target`` is what ``celery -A`` takes (``yourapp.worker.celery``); ``environ`` the variables to add
    (the deployment file's); keywords: ``cwd``, ``args`` (default ``("--pool=solo",)``), ``name`` (of
    the log file in ``tmp_path``).
    """

    def start(target: str, environ: Mapping[str, str] | None = None, *, cwd: Path | None = None,
              args: tuple[str, ...] = ("--pool=solo",), name: str = "worker.log"
              ) -> AbstractContextManager[WorkerProcess]:
        return run_celery_worker(target, dict(environ or {}), tmp_path / name, cwd=cwd, args=args,
                                 options=configsvc_options)

    return start
