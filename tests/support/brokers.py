"""Real broker accounts for tests: a RabbitMQ user and vhost, a Redis ACL user, made for one run and
removed afterwards (``guest`` and the default Redis user are never touched)."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager


def _run(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{command[:2]} failed: {done.stderr.strip()[:300]}")
    return done.stdout


@contextmanager
def rabbitmq_account() -> Iterator[tuple[str, str, str]]:
    """A RabbitMQ user and vhost of this run only: (user, password, vhost); removed afterwards."""
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
    user = f"configsvc-test-{os.getpid()}-{secrets.token_hex(3)}"
    password = "p" + secrets.token_hex(16)
    _run("redis-cli", "ACL", "SETUSER", user, "on", f">{password}", "~*", "&*", "+@all")
    try:
        yield user, password
    finally:
        _run("redis-cli", "ACL", "DELUSER", user)


@contextmanager
def rabbitmq_vhost() -> Iterator[str]:
    """A RabbitMQ vhost of this run only; removed afterwards (with its queues)."""
    vhost = f"configsvc-test-{os.getpid()}-{secrets.token_hex(3)}"
    _run("rabbitmqctl", "-q", "add_vhost", vhost)
    try:
        yield vhost
    finally:
        _run("rabbitmqctl", "-q", "delete_vhost", vhost)


@contextmanager
def rabbitmq_user(vhost: str) -> Iterator[tuple[str, str]]:
    """A RabbitMQ user of this run with full rights on ``vhost``: (user, password); removed afterwards
    unless the test already deleted it."""
    user = f"configsvc-test-{os.getpid()}-{secrets.token_hex(3)}"
    password = "p" + secrets.token_hex(16)
    _run("rabbitmqctl", "-q", "add_user", user, password)
    try:
        _run("rabbitmqctl", "-q", "set_permissions", "-p", vhost, user, ".*", ".*", ".*")
        yield user, password
    finally:
        if user in rabbitmq_users():
            _run("rabbitmqctl", "-q", "delete_user", user)


def rabbitmq_users() -> set[str]:
    return {line.split("\t")[0] for line in _run("rabbitmqctl", "-q", "list_users", "--no-table-headers")
            .splitlines() if line.strip()}


def delete_rabbitmq_user(user: str) -> None:
    """Revoke a user: RabbitMQ closes its connections."""
    _run("rabbitmqctl", "-q", "delete_user", user)


def rabbitmq_connection_users(vhost: str) -> list[str]:
    """The user name of every open connection to ``vhost``."""
    lines = _run("rabbitmqctl", "-q", "list_connections", "user", "vhost", "--no-table-headers").splitlines()
    return [user for user, _, where in (line.partition("\t") for line in lines if line.strip())
            if where.strip() == vhost]


def redis_cli(*args: str) -> str:
    return _run("redis-cli", *args)


def redis_clients(user: str) -> list[dict[str, str]]:
    """Every open Redis connection of ``user``, as CLIENT LIST fields."""
    clients = []
    for line in redis_cli("CLIENT", "LIST").splitlines():
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        if fields.get("user") == user:
            clients.append(fields)
    return clients
