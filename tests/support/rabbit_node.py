"""A RabbitMQ node of the tests' own, next to the machine's: its own node name, ports, data dir, cookie,
config and plugins, run with the ``rabbitmq-server`` and ``rabbitmqctl`` of the installed server (the
``rabbitmqctl`` beside the server script honours ``HOME``, where the node's cookie is). Stopped by its
process group and removed afterwards; the machine's node, its ``guest`` and its plugins are never
touched.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.processes import free_port
from tests.support.rabbitmq_control import RabbitControl

SBIN = Path(sorted(glob.glob("/usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin"))[-1])


@dataclass
class RabbitNode:
    """A running node: where to connect (AMQP, and the management API when it has the plugin), and how
    to ask it what it sees."""

    name: str
    port: int
    home: Path
    env: dict[str, str] = field(repr=False)
    management_port: int | None = None

    def ctl(self, *args: str, timeout: float = 60) -> str:
        done = subprocess.run([str(SBIN / "rabbitmqctl"), "-n", self.name, *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout, check=True)
        return done.stdout

    @property
    def control(self) -> RabbitControl:
        """Its users, vhosts and connections, without a ``rabbitmqctl`` per question."""
        return RabbitControl(self.name, (self.home / "home" / ".erlang.cookie").read_text().strip())

    def connections(self) -> list[dict[str, str]]:
        """Every client connection: name (``ip:port -> ip:port``) and user."""
        return self.control.connections("name", "user")

    def users(self) -> list[str]:
        return self.control.users()

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in (self.home / "log").glob("*.log"))


@contextmanager
def rabbitmq_node(base: Path, purpose: str, *, plugins: list[str], conf: str = "",
                  advanced: str | None = None, management: bool = False) -> Iterator[RabbitNode]:
    """Start a node with ``plugins`` and the extra ``conf`` lines (``rabbitmq.conf`` syntax), and the
    management plugin's API on a port of its own when ``management``; stopped and removed afterwards."""
    name = f"configsvc-{purpose}-{os.getpid()}-{uuid.uuid4().hex[:6]}@localhost"
    port, dist = free_port(), free_port()
    management_port = free_port() if management else None
    home = base / f"rabbit-{purpose}"
    for folder in ("home", "mnesia", "log"):
        (home / folder).mkdir(parents=True, exist_ok=True)
    cookie = home / "home" / ".erlang.cookie"
    cookie.write_text(uuid.uuid4().hex.upper())
    cookie.chmod(0o400)
    if management:
        plugins = [*plugins, "rabbitmq_management"]
        conf += f"management.tcp.port = {management_port}\nmanagement.tcp.ip = 127.0.0.1\n"
    (home / "enabled_plugins").write_text(f"[{','.join(plugins)}].\n")
    (home / "rabbitmq.conf").write_text(
        f"listeners.tcp.1 = 127.0.0.1:{port}\n"
        "loopback_users = none\n"
        "management_agent.disable_metrics_collector = true\n" + conf)
    (home / "advanced.config").write_text(advanced or "[].\n")
    (home / "rabbitmq-env.conf").write_text("")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home / "home"),
        "LANG": "C.UTF-8",
        "RABBITMQ_CONF_ENV_FILE": str(home / "rabbitmq-env.conf"),
        "RABBITMQ_NODENAME": name,
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(dist),
        "RABBITMQ_CONFIG_FILE": str(home / "rabbitmq.conf"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(home / "advanced.config"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(home / "enabled_plugins"),
        "RABBITMQ_MNESIA_BASE": str(home / "mnesia"),
        "RABBITMQ_LOG_BASE": str(home / "log"),
        "RABBITMQ_PID_FILE": str(home / "node.pid"),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
    }
    with open(home / "server.out", "wb") as out:
        server = subprocess.Popen([str(SBIN / "rabbitmq-server")], env=env, stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    node = RabbitNode(name, port, home, env, management_port)
    try:
        # ``wait`` waits for the pid file and then for the boot (``await_startup`` fails at once while
        # the node is not reachable yet).
        node.ctl("wait", str(home / "node.pid"), "--timeout", "90", timeout=120)
        yield node
    finally:
        with suppress(subprocess.SubprocessError, OSError):
            node.ctl("stop", timeout=60)
        with suppress(ProcessLookupError):
            os.killpg(server.pid, 9)
        server.wait(timeout=30)
        shutil.rmtree(home / "mnesia", ignore_errors=True)
