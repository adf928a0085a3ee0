"""``make run``: a Celery worker and the Flask development server together; Ctrl-C stops both.

With no broker configured (development), both use the embedded ``filesystem://`` broker under the Flask
instance folder, so nothing else needs to run.

What it shows: one line per process once it has started, the URL once the web app answers it, then the
worker's task log (each task received and its outcome) and any warning or error of either process.
Celery's banner and Flask's development-server banner are left out, and so are the web app's request
lines. Each process runs in a process group of its own, so Ctrl-C reaches this script only, which stops
both once (Celery says "Warm shutdown" once, not for the terminal's SIGINT and again for ours).
"""

from __future__ import annotations

import faulthandler
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path

from app import create_app
from configsvc import ConfigError

BIN = Path(sys.executable).parent
ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: Worker lines left out: its start-up (one line of ours says it started) and Celery's own chatter.
WORKER_QUIET = re.compile(r"\] (Connected to |mingle: |celery@\S+ ready\.|.*Cannot connect.*filesystem)")
#: The web app's lines kept: warnings and errors (Flask and Werkzeug log them with the level first).
WEB_KEPT = re.compile(r"^(WARNING|ERROR|CRITICAL|Traceback|\[.*(WARNING|ERROR|CRITICAL))")
WEB_BANNER = re.compile(r"WARNING: This is a development server|^\s*\* |\] \* |Press CTRL\+C")


class Output:
    """Copies a child's output to ours, line by line, keeping what ``keep`` keeps; ``started`` is set when
    a line matches ``ready``."""

    def __init__(self, process: subprocess.Popen[bytes], keep: re.Pattern[str] | None,
                 drop: re.Pattern[str], ready: re.Pattern[str] | None = None) -> None:
        self.started = threading.Event()
        self._keep, self._drop, self._ready = keep, drop, ready
        assert process.stdout is not None
        self._stream = process.stdout
        threading.Thread(target=self._copy, daemon=True).start()

    def _copy(self) -> None:
        for raw in iter(self._stream.readline, b""):
            line = ANSI.sub("", raw.decode(errors="replace")).rstrip()
            if self._ready is not None and self._ready.search(line):
                self.started.set()
            kept = self._keep is None or self._keep.search(line)
            if not line or self._drop.search(line) or not kept:
                continue
            print(line, flush=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _answers(url: str, processes: list[subprocess.Popen[bytes]], timeout: float = 60) -> bool:
    """Wait until ``url`` answers (any HTTP status: a 503 is an answer); False when a process exited."""
    deadline = time.monotonic() + timeout
    while all(process.poll() is None for process in processes) and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            time.sleep(0.1)
    return False


def _started(started: threading.Event, processes: list[subprocess.Popen[bytes]],
             timeout: float = 60) -> bool:
    """Wait until ``started`` is set; False when a process exited first."""
    deadline = time.monotonic() + timeout
    while all(process.poll() is None for process in processes) and time.monotonic() < deadline:
        if started.wait(0.1):
            return True
    return False


def main() -> int:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the worker and the web app print them
            app = create_app()
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    port = app.config.get("PORT") or 5000
    broker = str(app.config["CELERY"].get("broker_url") or "")
    env = app.extensions["configsvc"].config.env
    # Each in a process group of its own: the terminal's Ctrl-C reaches this script only.
    worker = subprocess.Popen([str(BIN / "celery"), "--quiet", "-A", "worker_entry.celery", "worker",
                               "--loglevel=info", "--concurrency=2"], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, process_group=0)
    web = subprocess.Popen([str(BIN / "flask"), "--app", "app", "run", "--host", "127.0.0.1",
                            "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           process_group=0)
    processes = [worker, web]
    worker_output = Output(worker, None, WORKER_QUIET, ready=re.compile(r"celery@\S+ ready\."))
    Output(web, WEB_KEPT, WEB_BANNER)
    # Ctrl-C and SIGTERM stop both, also when this was started as a background job: a shell starts those
    # with SIGINT ignored, and Python then leaves it ignored (no KeyboardInterrupt).
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    faulthandler.register(signal.SIGUSR1)  # a stop that hangs can be asked where it is
    url = f"http://127.0.0.1:{port}/"
    scheme = broker.split(":", 1)[0]
    try:
        if _started(worker_output.started, processes):
            print(f"configsvc: worker started (pid {worker.pid}, broker {scheme}://, env {env})", flush=True)
        if _answers(url + "healthz", processes):  # the URL once the server answers, not before
            print(f"configsvc: web app started (pid {web.pid})", flush=True)
            print(f"  open: {url}   (Ctrl-C stops both)", flush=True)
        while all(process.poll() is None for process in processes):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    # Stopping: a second Ctrl-C (or the SIGTERM of whoever started us) changes nothing now.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + 15
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
