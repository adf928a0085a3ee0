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
from contextlib import contextmanager, suppress
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


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process's group (a warm shutdown), SIGKILL it after 20 s."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def celery_worker(environ: Mapping[str, str], cwd: Path, log: Path, extra: tuple[str, ...] = (),
                  target: str = "worker_entry.celery",
                  pool: tuple[str, ...] = ("--pool=solo",)) -> Iterator[subprocess.Popen[bytes]]:
    """``celery -A worker_entry.celery worker`` as a user starts it, from ``cwd``; stopped afterwards."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("APP_", "FLASK_CONFIG", "CONFIGSVC_"))}
    env.update(environ)
    with open(log, "wb") as out:
        worker = subprocess.Popen(
            [str(VENV_BIN / "celery"), "-A", target, "worker", *pool,
             "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "info",
             "-n", f"test-{os.getpid()}@%h", *extra],
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
        stop_process_group(worker)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def web_server(environ: Mapping[str, str], cwd: Path, log: Path, kind: str = "flask",
               workers: int = 2, app_spec: str = "app:create_app()") -> Iterator[str]:
    """The web app as a user starts it (``flask run`` or gunicorn); yields its base URL."""
    with web_process(environ, cwd, log, kind, workers, app_spec) as (url, _):
        yield url


@contextmanager
def web_process(environ: Mapping[str, str], cwd: Path, log: Path, kind: str = "flask", workers: int = 2,
                app_spec: str = "app:create_app()") -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Like :func:`web_server`, yielding (base URL, server process)."""
    import urllib.error
    import urllib.request

    port = free_port()
    if kind == "flask":
        command = [str(VENV_BIN / "flask"), "--app", "app", "run", "--host", "127.0.0.1", "--port", str(port)]
    else:
        command = [str(VENV_BIN / "gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{port}",
                   app_spec]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("APP_", "FLASK_CONFIG", "CONFIGSVC_"))}
    env.update(environ)
    with open(log, "wb") as out:
        server = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/healthz", timeout=5)
                break
            except urllib.error.HTTPError:
                break  # it answers (503 is an answer)
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"web server did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.1)
        yield url, server
    finally:
        stop_process_group(server)


def http(method: str, url: str, body: object | None = None, timeout: float = 10) -> tuple[int, dict, dict]:  # type: ignore[type-arg]
    """(status, JSON body, headers) of one real HTTP request."""
    import json
    import urllib.error
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}"), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}"), dict(error.headers)


class Forwarder:
    """A TCP forwarder on localhost to a real server, which a test can cut and restore ("broker down")."""

    def __init__(self, target_port: int) -> None:
        import threading

        self.target_port = target_port
        self.port = free_port()
        self._threading = threading
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        self._threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Refuse new connections and cut the open ones, as a broker going down does."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            for connection in self._connections:
                with suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                connection.close()
            self._connections.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._connections += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                self._threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)


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


@contextmanager
def rabbitmq_vhost() -> Iterator[str]:
    """A RabbitMQ vhost of this run only; removed afterwards (with its queues)."""
    require_port(5672, "RabbitMQ")
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


def process_group(leader: subprocess.Popen[bytes]) -> set[int]:
    """The PIDs of every process in ``leader``'s process group (server and its workers)."""
    output = _run("ps", "-e", "-o", "pid=,pgid=")
    return {int(pid) for pid, pgid in (line.split() for line in output.splitlines())
            if int(pgid) == leader.pid}


def wait_for(predicate: object, timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll ``predicate()`` until true; fail the test with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
