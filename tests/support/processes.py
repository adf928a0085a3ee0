"""The processes users start, for tests: ``celery worker``, ``flask run`` and gunicorn."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

from configsvc.options import clean_environ
from configsvc.testing import WorkerProcess, run_celery_worker, stop_process_group
from tests.support import redis_keys
from tests.support.reference import OPTIONS

VENV_BIN = Path(sys.executable).parent

__all__ = ["VENV_BIN", "celery_worker", "free_port", "process_group", "stop_process_group", "wait_for",
           "web_process", "web_server"]


@contextmanager
def celery_worker(environ: Mapping[str, str], cwd: Path, log: Path, extra: tuple[str, ...] = (),
                  target: str = "worker_entry.celery", pool: tuple[str, ...] = ("--pool=solo",),
                  default_startup: bool = False, name: str = "test") -> Iterator[subprocess.Popen[bytes]]:
    """``celery -A worker_entry.celery worker`` as a user starts it, from ``cwd``; stopped afterwards.

    Most tests skip mingle and gossip (mingle waits a second for neighbours at every start);
    ``default_startup`` keeps Celery's default startup, the path users take (the rotation tests). Not the
    heartbeat: its 2-second timer is what wakes a solo or threads worker's event loop after SIGTERM;
    without a timer due, kombu's hub polls for up to 10 s, and a warm shutdown waited that long.
    """
    quick = () if default_startup else ("--without-gossip", "--without-mingle")
    args = (*pool, *quick, "-n", f"{name}-{os.getpid()}@%h", *extra)
    worker: WorkerProcess
    environ = {**redis_keys.environ(), **environ}
    with run_celery_worker(target, environ, log, cwd=cwd, args=args, options=OPTIONS) as worker, \
            log_shown_on_failure(log):
        yield worker.process


@contextmanager
def log_shown_on_failure(log: Path, lines: int = 60) -> Iterator[None]:
    """When the test fails inside the block, print the last ``lines`` of a process's log: pytest shows
    it under "Captured stdout", so a failure in CI says what the server or worker was doing."""
    try:
        yield
    except BaseException:
        tail = log.read_text(errors="replace").splitlines()[-lines:] if log.exists() else ["(no log)"]
        print(f"--- last {len(tail)} lines of {log} ---", *tail, sep="\n")
        raise


def free_port() -> int:
    """A port nothing listens on, for a server a test starts, chosen below the kernel's ephemeral range:
    a port the kernel hands out (bind to port 0) can be taken by any outgoing connection before the
    server binds it, seconds later — a RabbitMQ node of the tests failed to start with eaddrinuse that
    way while other tests ran load. Outgoing connections never get a port outside that range."""
    low = _ephemeral_low()
    if low <= 10_000:  # a machine whose ephemeral range is (nearly) everything: the kernel's choice
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return int(probe.getsockname()[1])
    choose = random.SystemRandom().randrange
    for _ in range(500):
        port = choose(max(1024, low // 2), low)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port below {low}")


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


@contextmanager
def web_server(environ: Mapping[str, str], cwd: Path, log: Path, kind: str = "flask",
               workers: int = 2, app_spec: str = "app:create_app()") -> Iterator[str]:
    """The web app as a user starts it (``flask run`` or gunicorn); yields its base URL."""
    with web_process(environ, cwd, log, kind, workers, app_spec) as (url, _):
        yield url


@contextmanager
def web_process(environ: Mapping[str, str], cwd: Path, log: Path, kind: str = "flask", workers: int = 2,
                app_spec: str = "app:create_app()", preload: bool = True
                ) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Like :func:`web_server`, yielding (base URL, server process). gunicorn runs with ``--preload``, as
    the README tells users to (``preload=False`` for the case it guards against)."""
    import urllib.error
    import urllib.request

    port = free_port()
    if kind == "flask":
        command = [str(VENV_BIN / "flask"), "--app", "app", "run", "--host", "127.0.0.1", "--port", str(port)]
    else:
        command = [str(VENV_BIN / "gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{port}",
                   *(["--preload"] if preload else []), app_spec]
    # gunicorn >= 25.1 opens a control socket at $XDG_RUNTIME_DIR/gunicorn.ctl, else ~/.gunicorn/gunicorn.ctl:
    # one path shared by every gunicorn a parallel run starts. Each server gets its own (a short path: a
    # Unix socket's is limited to 107 bytes).
    runtime = tempfile.TemporaryDirectory(prefix="gunicorn-")
    env = {**clean_environ(os.environ, OPTIONS), **redis_keys.environ(), **environ,
           "XDG_RUNTIME_DIR": runtime.name}
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
        # One worker answering is not all of them: wait until gunicorn has forked every worker (with
        # --preload a forked worker already holds the app).
        while kind != "flask" and len(process_group(server)) < workers + 1:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start {workers} workers: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        with log_shown_on_failure(log):
            yield url, server
    finally:
        stop_process_group(server)
        runtime.cleanup()


def process_group(leader: subprocess.Popen[bytes]) -> set[int]:
    """The PIDs of every process in ``leader``'s process group (server and its workers)."""
    output = subprocess.run(["ps", "-e", "-o", "pid=,pgid="], capture_output=True, text=True,
                            check=True, timeout=30).stdout
    return {int(pid) for pid, pgid in (line.split() for line in output.splitlines())
            if int(pgid) == leader.pid}


def wait_for(predicate: object, timeout: float, what: str | Callable[[], str], interval: float = 0.1) -> None:
    """Poll ``predicate()`` until true; fail the test with ``what`` (or what ``what()`` says then) after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what() if callable(what) else what}")
        time.sleep(interval)


@contextmanager
def celery_beat(environ: Mapping[str, str], cwd: Path, log: Path,
                target: str = "worker_entry.celery") -> Iterator[subprocess.Popen[bytes]]:
    """``celery -A worker_entry.celery beat`` as a user starts it, its schedule file in ``cwd``."""
    env = {**clean_environ(os.environ, OPTIONS), **redis_keys.environ(), **environ}
    with open(log, "wb") as out:
        beat = subprocess.Popen(
            [str(VENV_BIN / "celery"), "-A", target, "beat", "-l", "info", "-s", str(cwd / "beat-schedule"),
             "--pidfile", str(cwd / "beat.pid")],
            env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while b"beat: Starting..." not in log.read_bytes():
            if beat.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"beat did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        with log_shown_on_failure(log):
            yield beat
    finally:
        stop_process_group(beat)
