"""gunicorn as the README runs it, with ``--preload``: a worker gunicorn replaces (a crash,
``--max-requests``, a timeout) while the deployment file is bad starts from the master's last good
configuration, so the server keeps serving; without ``--preload`` the replacement fails to boot and
gunicorn stops altogether."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from tests.support.http import http
from tests.support.processes import process_group, wait_for, web_process

GOOD = "secret_key: gunicorn-preload-secret-key-0123456789\n"
BAD = GOOD + "port: 99999\n"


def web_workers(server: subprocess.Popen[bytes]) -> set[int]:
    return process_group(server) - {server.pid}


def loaded_the_app(pid: int) -> bool:
    # A sync worker has no thread of its own: one with configsvc's watching thread has the app (loaded
    # after the fork without --preload; restarted in the forked child with it).
    try:
        return len(os.listdir(f"/proc/{pid}/task")) >= 2
    except FileNotFoundError:  # it has just exited
        return False


def replaced(server: subprocess.Popen[bytes], victim: int) -> bool:
    workers = web_workers(server) - {victim}
    return len(workers) == 2 and all(loaded_the_app(pid) for pid in workers)


def every_worker_says(url: str, expected: str) -> bool:
    return all(http("GET", url + "/healthz")[1].get("config") == expected for _ in range(6))


def test_a_worker_replaced_while_the_file_is_bad_starts_on_the_last_good_one(
        deployment_file, tmp_path: Path) -> None:
    path = deployment_file(GOOD)
    with web_process({"FLASK_CONFIG": str(path)}, cwd=tmp_path, log=tmp_path / "web.log",
                     kind="gunicorn") as (url, server):
        fingerprint = http("GET", url + "/healthz")[1]["fingerprint"]
        path.write_text(BAD)
        wait_for(lambda: every_worker_says(url, "stale"), 10, "every worker to refuse the bad file")
        for victim in sorted(web_workers(server)):  # both: every answer below comes from a replacement
            os.kill(victim, signal.SIGKILL)
            wait_for(lambda victim=victim: server.poll() is not None or replaced(server, victim), 20,
                     "gunicorn to replace the worker")
            assert server.poll() is None, "gunicorn stopped"
        # The replacements run the last good configuration and refuse the bad file on their own.
        wait_for(lambda: every_worker_says(url, "stale"), 10, "the replacements to refuse the bad file")
        assert http("GET", url + "/healthz")[1]["fingerprint"] == fingerprint
        path.write_text(GOOD)
        wait_for(lambda: every_worker_says(url, "ok"), 10, "every worker to take the good file again")
    assert "Worker failed to boot" not in (tmp_path / "web.log").read_text()


def test_without_preload_the_replacement_fails_to_boot_and_gunicorn_stops(
        deployment_file, tmp_path: Path) -> None:
    path = deployment_file(GOOD)
    with web_process({"FLASK_CONFIG": str(path)}, cwd=tmp_path, log=tmp_path / "web.log", kind="gunicorn",
                     preload=False) as (url, server):
        wait_for(lambda: all(loaded_the_app(pid) for pid in web_workers(server)), 20, "both workers to boot")
        path.write_text(BAD)
        wait_for(lambda: every_worker_says(url, "stale"), 10, "every worker to refuse the bad file")
        os.kill(min(web_workers(server)), signal.SIGKILL)
        server.wait(timeout=30)
    assert "Worker failed to boot" in (tmp_path / "web.log").read_text()


def post_raw(url: str, body: bytes) -> bytes:
    """A client that sends the whole request before it reads (as most HTTP clients do without
    ``Expect: 100-continue``), then reads the whole answer."""
    import socket
    from urllib.parse import urlsplit

    address = urlsplit(url)
    with socket.create_connection((address.hostname, address.port), timeout=30) as connection:
        connection.sendall(b"POST /task/ HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                           b"Content-Length: %d\r\n\r\n" % len(body) + body)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


def test_a_body_over_the_limit_gets_a_413_the_client_can_read(deployment_file, tmp_path: Path) -> None:
    """Hardening round 3: a 10 MB body got a broken pipe (the server answered 413 before reading the
    body, and closed), so a client that sends first never saw the 413. The body is drained (bounded)."""
    path = deployment_file(GOOD)
    with web_process({"FLASK_CONFIG": str(path)}, cwd=tmp_path, log=tmp_path / "web.log",
                     kind="gunicorn") as (url, _):
        for size in (20_000, 10 * 1024 * 1024):
            answer = post_raw(url, b"{" + b" " * (size - 2) + b"}")
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 413 "), head
            assert b'"error"' in body and b"the body is larger than 16384 bytes" in body
        assert http("GET", url + "/healthz")[0] == 200  # the server goes on
