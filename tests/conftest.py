"""Shared fixtures, in the shape of the Flask tutorial's conftest: ``app``, ``client``, ``runner``.

Every test starts with no ``FLASK_CONFIG``, ``APP_*``, ``CONFIGSVC_*`` or dynaconf variables in the
process environment; tests pass environments to the code as dicts instead of patching the process.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from app import create_app

PROJECT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
_SCRUB = re.compile(r"^(FLASK_CONFIG|APP_.*|CONFIGSVC_.*|DYNACONF_.*|.*_FOR_DYNACONF)$")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove every variable that could change a resolution, as Flask's own conftest does."""
    for name in list(os.environ):
        if _SCRUB.match(name) and name != "CONFIGSVC_REQUIRE_BROKERS":
            monkeypatch.delenv(name)


@pytest.fixture
def write_file(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write a file under tmp_path: a mapping is dumped as YAML or JSON by extension, text as is."""

    def write(name: str, content: Any, mode: int | None = None) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        elif path.suffix == ".json":
            import json

            path.write_text(json.dumps(content), encoding="utf-8")
        else:
            path.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
        if mode is not None:
            path.chmod(mode)
        return path

    return write


@pytest.fixture
def deployment_file(write_file):  # type: ignore[no-untyped-def]
    """A plain deployment file in the seed's format."""
    return write_file("api-config.yaml", {
        "port": 8080,
        "secret_key": "file-secret-key",
        "celery": {"broker_url": "amqp://app:file-pass@rabbit:5672//",
                   "result_backend": "redis://localhost:6379/0"},
    })


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    """An app in the testing environment on the embedded broker folder of this test."""
    flask_app = create_app(
        {"celery": {"broker_url": "filesystem://", "result_backend": f"file://{tmp_path}/results",
                    "broker_transport_options": {"data_folder_in": str(tmp_path / "q"),
                                                 "data_folder_out": str(tmp_path / "q")}}},
        environ={"APP_ENV": "testing"},
    )
    yield flask_app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


def run_cli(*args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real ``configsvc`` console script as a subprocess, with only the given variables added."""
    base = {k: v for k, v in os.environ.items() if not _SCRUB.match(k)}
    exe = shutil.which("configsvc", path=str(VENV_BIN)) or "configsvc"
    return subprocess.run(
        [exe, *args], env={**base, **(env or {})}, cwd=cwd, input=stdin,
        capture_output=True, text=True, timeout=60,
    )
