"""Helpers that run what users run: real ``celery`` worker processes, real broker accounts."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

VENV_BIN = Path(sys.executable).parent


def brokers_required() -> bool:
    return os.environ.get("CONFIGSVC_REQUIRE_BROKERS") == "1"


def require_port(port: int, name: str) -> None:
    """Fail (under CONFIGSVC_REQUIRE_BROKERS=1) or skip when a local server is not listening."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        message = f"{name} is not reachable on 127.0.0.1:{port}"
        if brokers_required():
            pytest.fail(message + " and CONFIGSVC_REQUIRE_BROKERS=1")
        pytest.skip(message)


def _run(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{command[:2]} failed: {done.stderr.strip()[:300]}")
    return done.stdout


@contextmanager
def rabbitmq_account() -> Iterator[tuple[str, str, str]]:
    """A RabbitMQ user and vhost of this run only: (user, password, vhost); removed afterwards."""
    require_port(5672, "RabbitMQ")
    tag = f"configsvc-test-{os.getpid()}-{secrets.token_hex(3)}"
    password = "p" + secrets.token_hex(16)
    _run("rabbitmqctl", "-q", "add_vhost", tag)
    try:
        _run("rabbitmqctl", "-q", "add_user", tag, password)
        try:
            _run("rabbitmqctl", "-q", "set_permissions", "-p", tag, tag, ".*", ".*", ".*")
            yield tag, password, tag
        finally:
            _run("rabbitmqctl", "-q", "delete_user", tag)
    finally:
        _run("rabbitmqctl", "-q", "delete_vhost", tag)


@contextmanager
def redis_account() -> Iterator[tuple[str, str]]:
    """A Redis ACL user of this run only: (user, password); removed afterwards."""
    require_port(6379, "Redis")
    user = f"configsvc-test-{os.getpid()}-{secrets.token_hex(3)}"
    password = "p" + secrets.token_hex(16)
    _run("redis-cli", "ACL", "SETUSER", user, "on", f">{password}", "~*", "&*", "+@all")
    try:
        yield user, password
    finally:
        _run("redis-cli", "ACL", "DELUSER", user)


@contextmanager
def celery_worker(environ: Mapping[str, str], cwd: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``celery -A worker_entry.celery worker`` as a user starts it, from ``cwd``; stopped afterwards."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("APP_", "FLASK_CONFIG", "CONFIGSVC_"))}
    env.update(environ)
    with open(log, "wb") as out:
        worker = subprocess.Popen(
            [str(VENV_BIN / "celery"), "-A", "worker_entry.celery", "worker", "--pool=solo",
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "info",
             "-n", f"test-{os.getpid()}@%h"],
            env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while b"ready." not in log.read_bytes():
            if worker.poll() is not None:
                raise RuntimeError(f"worker exited: {log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker not ready in 60 s: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield worker
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
