"""The reference app as the tests see it: its options, resolving with them, its CLI, a probe file."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import app as reference_app
from app.extensions import config as reference_service
from configsvc import Config
from configsvc.options import clean_environ

PROJECT = Path(__file__).resolve().parents[2]
APP_ROOT = Path(reference_app.__file__).resolve().parent
OPTIONS = reference_service.options
VENV_BIN = Path(sys.executable).parent


def resolve(environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None,
            **kwargs: Any) -> Config:
    """Resolve as the reference app does (its defaults file and schema), without building the app."""
    kwargs.setdefault("root_path", APP_ROOT)
    return reference_service.resolve(environ or {}, overrides, **kwargs)


def run_cli(*args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real ``configsvc`` console script as a subprocess, with only the given variables added.

    From the checkout (the default folder) it finds the reference app as ``flask`` would.
    """
    exe = shutil.which("configsvc", path=str(VENV_BIN)) or "configsvc"
    return subprocess.run(
        [exe, *args], env={**clean_environ(), **(env or {})}, cwd=cwd or PROJECT, input=stdin,
        capture_output=True, text=True, timeout=60,
    )


def probe_config(tmp_path: Path, extra_celery: str = "") -> Path:
    """A deployment file on the embedded broker whose worker imports tests.probes (probe log in tmp_path)."""
    queue = tmp_path / "queue"
    path = tmp_path / "api-config.yaml"
    path.write_text(
        f"probe_name: probe-{tmp_path.name}\nprobe_log: {tmp_path / 'probe.log'}\n"
        "celery:\n  broker_url: filesystem://\n  imports: [tests.probes]\n"
        f"  broker_transport_options:\n    data_folder_in: {queue}\n    data_folder_out: {queue}\n"
        f"  result_backend: file://{tmp_path / 'results'}\n" + extra_celery
    )
    return path
