"""Real broker accounts for tests: a RabbitMQ user and vhost (made through
:mod:`tests.support.rabbitmq_control`), a Redis ACL user, made for one run and removed afterwards
(``guest`` and the default Redis user are never touched)."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.rabbitmq_control import machine_node


def _run(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{command[:2]} failed: {done.stderr.strip()[:300]}")
    return done.stdout


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
def rabbitmq_account() -> Iterator[tuple[str, str, str]]:
    """A RabbitMQ user and vhost of this run only: (user, password, vhost); removed afterwards."""
    tag = f"configsvc-test-{os.getpid()}-{secrets.token_hex(3)}"
    with rabbitmq_vhost(tag), rabbitmq_user(tag, user=tag) as (user, password):
        yield user, password, tag


@contextmanager
def rabbitmq_vhost(name: str | None = None) -> Iterator[str]:
    """A RabbitMQ vhost of this run only; removed afterwards (with its queues)."""
    vhost = name or f"configsvc-test-{os.getpid()}-{secrets.token_hex(3)}"
    control = machine_node()
    control.add_vhost(vhost)
    try:
        yield vhost
    finally:
        control.delete_vhost(vhost)


@contextmanager
def rabbitmq_user(vhost: str, *, user: str | None = None) -> Iterator[tuple[str, str]]:
    """A RabbitMQ user of this run with full rights on ``vhost``: (user, password); removed afterwards
    unless the test already deleted it."""
    user = user or f"configsvc-test-{os.getpid()}-{secrets.token_hex(3)}"
    password = "p" + secrets.token_hex(16)
    control = machine_node()
    control.add_user(user, password)
    try:
        control.set_permissions(vhost, user)
        yield user, password
    finally:
        control.delete_user(user, missing_ok=True)


def rabbitmq_users() -> set[str]:
    return set(machine_node().users())


def delete_rabbitmq_user(user: str) -> None:
    """Revoke a user: RabbitMQ closes its connections."""
    machine_node().delete_user(user)


def rabbitmq_connection_users(vhost: str) -> list[str]:
    """The user name of every open connection to ``vhost``."""
    return [c["user"] for c in machine_node().connections("user", "vhost") if c["vhost"] == vhost]


#: The name of everything :func:`rabbitmq_account`, :func:`rabbitmq_vhost`, :func:`rabbitmq_user` and
#: :func:`redis_account` make: the test process's pid, and a random part.
_MADE_BY_A_TEST = re.compile(r"configsvc-test-(\d+)-[0-9a-f]{6}")


def sweep_left_by_dead_runs() -> list[str]:
    """Remove the RabbitMQ vhosts and users and the Redis ACL users that a test process which no longer
    runs left behind (a run killed in the middle of a test); the names removed."""
    control = machine_node()
    removed = []
    for name in control.vhosts():
        if _left_by_a_dead_process(name):
            control.delete_vhost(name)
            removed.append(name)
    for name in control.users():
        if _left_by_a_dead_process(name):
            control.delete_user(name, missing_ok=True)
            removed.append(name)
    for name in redis_cli("ACL", "USERS").split():
        if _left_by_a_dead_process(name):
            redis_cli("ACL", "DELUSER", name)
            removed.append(name)
    return removed


def _left_by_a_dead_process(name: str) -> bool:
    found = _MADE_BY_A_TEST.fullmatch(name)
    if found is None:
        return False
    try:
        os.kill(int(found.group(1)), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # it runs, as another user
        return False
    return False


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
