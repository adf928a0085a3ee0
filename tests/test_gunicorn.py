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


def test_a_worker_replaced_while_the_file_is_bad_starts_on_the_last_good_one(tmp_path: Path) -> None:
    path = tmp_path / "api-config.yaml"
    path.write_text(GOOD)
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


def test_without_preload_the_replacement_fails_to_boot_and_gunicorn_stops(tmp_path: Path) -> None:
    path = tmp_path / "api-config.yaml"
    path.write_text(GOOD)
    with web_process({"FLASK_CONFIG": str(path)}, cwd=tmp_path, log=tmp_path / "web.log", kind="gunicorn",
                     preload=False) as (url, server):
        wait_for(lambda: all(loaded_the_app(pid) for pid in web_workers(server)), 20, "both workers to boot")
        path.write_text(BAD)
        wait_for(lambda: every_worker_says(url, "stale"), 10, "every worker to refuse the bad file")
        os.kill(min(web_workers(server)), signal.SIGKILL)
        server.wait(timeout=30)
    assert "Worker failed to boot" in (tmp_path / "web.log").read_text()
