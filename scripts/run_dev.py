"""``make run``: a Celery worker and the Flask development server together; Ctrl-C stops both.

With no broker configured (development), both use the embedded ``filesystem://`` broker under the Flask
instance folder, so nothing else needs to run.
"""

from __future__ import annotations

import faulthandler
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path

from app import create_app
from configsvc import ConfigError

BIN = Path(sys.executable).parent


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
    processes = [
        subprocess.Popen([str(BIN / "celery"), "-A", "worker_entry.celery", "worker",
                          "--loglevel=info", "--concurrency=2"]),
        subprocess.Popen([str(BIN / "flask"), "--app", "app", "run", "--host", "127.0.0.1",
                          "--port", str(port)]),
    ]
    # Ctrl-C and SIGTERM stop both, also when this was started as a background job: a shell starts those
    # with SIGINT ignored, and Python then leaves it ignored (no KeyboardInterrupt).
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    faulthandler.register(signal.SIGUSR1)  # a stop that hangs can be asked where it is
    url = f"http://127.0.0.1:{port}/"
    try:
        if _answers(url + "healthz", processes):  # the URL once the server answers, not before
            print(f"\nconfigsvc: worker and web app on broker {broker.split(':', 1)[0]}:// "
                  f"(env {env}); Ctrl-C stops both\n  open: {url}\n", flush=True)
        while all(process.poll() is None for process in processes):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
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
