"""The broker accounts the tests make: a run killed in the middle of a test leaves its vhosts and users
behind, and the next run removes them — never another live run's."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.brokers import redis_cli, sweep_left_by_dead_runs
from tests.support.rabbitmq_control import machine_node

pytestmark = pytest.mark.brokers


def gone_pid() -> int:
    """The pid of a process that ran and ended (the kernel does not reuse it within the test)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    return int(done.stdout)


def test_accounts_a_dead_test_process_left_are_removed_and_a_live_ones_kept() -> None:
    control = machine_node()
    dead = f"configsvc-test-{gone_pid()}-a1b2c3"
    alive = f"configsvc-test-{os.getpid()}-d4e5f6"
    for name in (dead, alive):
        control.add_vhost(name)
        control.add_user(name, "p" + os.urandom(8).hex())
        redis_cli("ACL", "SETUSER", name, "off")
    try:
        removed = sweep_left_by_dead_runs()
        assert removed.count(dead) == 3 and alive not in removed  # its vhost, its user, its Redis user
        assert dead not in control.vhosts() and dead not in control.users()
        assert dead not in redis_cli("ACL", "USERS").split()
        assert alive in control.vhosts() and alive in control.users()
        assert alive in redis_cli("ACL", "USERS").split()
    finally:
        for name in (dead, alive):
            control.delete_user(name, missing_ok=True)
            if name in control.vhosts():
                control.delete_vhost(name)
            redis_cli("ACL", "DELUSER", name)
