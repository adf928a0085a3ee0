"""A Redis of a test's own whose default user is off, and an issuer of ACL passwords with a lifetime."""

from __future__ import annotations

import json
import re
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.processes import free_port, wait_for

#: The test's own administrator: the default user is turned off, so every client names a user.
ADMIN_USER, ADMIN_PASSWORD = "configsvc-admin", "admin-password-of-the-test"
ADMIN = ["--user", ADMIN_USER, "--pass", ADMIN_PASSWORD, "--no-auth-warning"]


@contextmanager
def redis_server(folder: Path) -> Iterator[int]:
    """A Redis on a free port (nothing on disk) with ``ADMIN_USER`` and the default user off; stopped by
    its PID afterwards."""
    port = free_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(folder)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True,
                                        text=True).stdout.strip() == "PONG", 20, "redis-server to start")
        subprocess.run(["redis-cli", "-p", str(port), "ACL", "SETUSER", ADMIN_USER, "on",
                        ">" + ADMIN_PASSWORD, "~*", "&*", "+@all"], check=True, capture_output=True)
        redis_cli(port, "ACL", "SETUSER", "default", "off")
        yield port
    finally:
        server.terminate()
        server.wait(timeout=20)


def redis_cli(port: int, *args: str) -> str:
    return subprocess.run(["redis-cli", "-p", str(port), *ADMIN, *args], capture_output=True, text=True,
                          check=True).stdout


def redis_info(port: int) -> dict[str, str]:
    out = redis_cli(port, "info", "all")
    return dict(line.split(":", 1) for line in out.splitlines() if ":" in line and not line.startswith("#"))


def auth_calls(info: dict[str, str]) -> int:
    found = re.search(r"calls=(\d+)", info.get("cmdstat_auth", ""))
    return int(found[1]) if found else 0


ISSUER = """#!/bin/sh
# A fresh ACL password for USER, valid LIFETIME seconds; passwords past their lifetime are forgotten
# (removed from the user) at each issue. STATE holds "password expiry" lines. A shell script: a refresh
# of every process runs it, and a Python interpreter's start would be most of what it costs.
port=$1 user=$2 lifetime=$3 state=$4
shift 4
# One issue at a time: an issue that read STATE before another forgot an expired password would write it
# back, and every later issue would ask Redis to remove a password the user no longer has (an error).
exec 9>"$state.lock" && flock 9 || exit 1
now=$(date +%s)
password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \\n')
forget=$(awk -v now="$now" '$2 < now {printf "<%s ", $1}' "$state" 2>/dev/null)
redis-cli -p "$port" "$@" ACL SETUSER "$user" on ">$password" '~*' '&*' '+@all' $forget \\
    | grep -qx OK || exit 1
{ awk -v now="$now" '$2 >= now' "$state" 2>/dev/null; echo "$password $((now + ${lifetime%.*}))"; } \\
    > "$state.$$" && mv "$state.$$" "$state"
echo issued >> "$state.log"  # one connection of the issuer's own per issue
printf '{"username": "%s", "password": "%s", "expires_in": %s}\\n' "$user" "$password" "$lifetime"
"""


class PasswordIssuer:
    """The ``command`` provider's program for ``user`` on the Redis at ``port``: each call issues a new
    password valid ``lifetime`` seconds (several processes share it: issues take a lock, since each reads
    and rewrites the state of the passwords it issued)."""

    def __init__(self, folder: Path, port: int, user: str, lifetime: float) -> None:
        self.program = folder / "issue-redis-password"
        self.state = folder / "issued"
        self.program.write_text(ISSUER)
        self.program.chmod(self.program.stat().st_mode | stat.S_IXUSR)
        self.argv = [str(self.program), str(port), user, f"{lifetime:g}", str(self.state), *ADMIN]

    def provider_yaml(self, indent: str = "    ") -> str:
        """The provider's lines under ``credentials.<setting>:``."""
        return f"{indent}provider: command\n{indent}command: {json.dumps(self.argv)}\n"

    def issued(self) -> int:
        """How many passwords were issued so far (each one connection of the issuer's own)."""
        log = Path(f"{self.state}.log")
        return len(log.read_text().splitlines()) if log.exists() else 0

    def remembered(self) -> list[float]:
        """The expiry of every password the Redis still takes."""
        return [float(line.split()[1]) for line in self.state.read_text().splitlines()]
