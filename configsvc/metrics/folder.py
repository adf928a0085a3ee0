"""The folder where the processes of one server keep their metrics (Prometheus' multiprocess mode).

prometheus_client counts in files when ``PROMETHEUS_MULTIPROC_DIR`` names a folder before it is first
imported: each process writes its own (``counter_<pid>.db``, ...) and a scrape adds them up. configsvc
sets that variable for its process when metrics are enabled, unless it is set already (then the folder
is yours to manage), to a folder of the *server*: a gunicorn server's arbiter, a Celery worker's main
process, beat. Processes forked from it (gunicorn's and Celery's prefork workers) inherit the variable;
a gunicorn worker that builds the app itself finds its arbiter's folder
(:mod:`configsvc.flask.gunicorn_internals`).

The folders live under ``<temp>/configsvc-metrics-<uid>/<pid>-<start time>/`` (0700). A server's folder
goes when a later server starts and finds its process gone (the start time tells a pid used again); a
dead process's gauges go at the next scrape (its counters stay: a total must not drop).
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, MutableMapping
from pathlib import Path

from configsvc.flask import gunicorn_internals

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# prometheus_client's file names: <type>[_<mode>]_<pid>.db; the live gauge modes are kept per process.
_LIVE_GAUGE = re.compile(r"^gauge_live[a-z]+_(\d+)\.db$")


def server_folder(environ: MutableMapping[str, str]) -> Path:
    """The folder of this process's server, made if needed and named in ``environ`` (the process's own
    environment, for prometheus_client and for the processes this one starts)."""
    given = environ.get(VARIABLE)
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    base = Path(tempfile.gettempdir()) / f"configsvc-metrics-{os.getuid()}"
    base.mkdir(mode=0o700, exist_ok=True)
    server = gunicorn_internals.arbiter_pid() or os.getpid()
    folder = base / server_name(server)
    if not folder.is_dir():
        remove_gone_servers(base)
        folder.mkdir(mode=0o700, exist_ok=True)
    environ[VARIABLE] = str(folder)
    return folder


def server_name(pid: int) -> str:
    """``<pid>-<start>``: the process and when it started (Linux: clock ticks since boot), so a later
    process that gets the same pid never finds the counts of an earlier server; ``<pid>`` elsewhere."""
    started = _start_time(pid)
    return f"{pid}-{started}" if started is not None else str(pid)


def _start_time(pid: int) -> int | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()  # after the command name, which may hold spaces
    return int(fields[19]) if len(fields) > 19 and fields[19].isdigit() else None  # field 22: starttime


def forget_dead_processes(folder: Path) -> None:
    """Remove the gauges of processes that are gone (what they counted stays)."""
    for name in os.listdir(folder):
        match = _LIVE_GAUGE.match(name)
        if match is not None and not alive(int(match.group(1))):
            for path in glob.glob(str(folder / f"gauge_live*_{match.group(1)}.db")):
                with contextlib.suppress(FileNotFoundError):  # another scrape removed it
                    os.remove(path)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def folder_in(environ: Mapping[str, str]) -> Path | None:
    given = environ.get(VARIABLE)
    return Path(given) if given else None


def remove_gone_servers(base: Path) -> None:
    for entry in base.iterdir():
        pid = entry.name.partition("-")[0]
        if pid.isdigit() and entry.is_dir() and server_name(int(pid)) != entry.name:
            shutil.rmtree(entry, ignore_errors=True)  # the server is gone (or its pid is another's now)

