"""Prometheus metrics: what every process runs, what it refused, when its credentials expire.

Off by default; ``metrics: {enabled: true}`` in any layer and ``pip install 'configsvc[metrics]'`` turn
them on. :func:`enable` (called by :class:`configsvc.flask.ConfigService` for an app whose configuration
enables them) names the server's folder (:mod:`.folder`), imports prometheus_client
(:mod:`.prometheus`, the only module that does) and points :data:`~.recording.record` at it; the library
records through ``record`` everywhere (:mod:`.recording`). The web app serves them on its metrics route
(:mod:`.web`), a worker and beat on a port of their own (:mod:`.serving`, started by
:mod:`configsvc.celery.metrics_endpoint`). Disabled, nothing of this is imported but ``recording``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import MutableMapping
from pathlib import Path

from configsvc.metrics.recording import record

logger = logging.getLogger("configsvc.metrics")

_lock = threading.Lock()
_folder: Path | None = None
_enabled = False
# What this process runs, recorded again in a forked child (its values start empty).
_running: tuple[str, float, bool] | None = None


def enable(environ: MutableMapping[str, str] | None = None) -> Path | None:
    """Turn metrics on in this process (once; later calls return the same): the server's folder, or None
    when prometheus_client keeps this process's values to itself (it was imported before, without
    ``PROMETHEUS_MULTIPROC_DIR``). ``environ``: the process's environment, where the folder is named for
    prometheus_client and for the processes this one forks or starts."""
    global _folder, _enabled
    with _lock:
        if _enabled:
            return _folder
        from configsvc.metrics import folder as folders

        already_imported = "prometheus_client" in __import__("sys").modules
        folder: Path | None = folders.server_folder(os.environ if environ is None else environ)
        from configsvc.metrics import prometheus

        if not prometheus.multiprocess():
            logger.warning("configsvc: prometheus_client was imported before configsvc enabled metrics, "
                           "without PROMETHEUS_MULTIPROC_DIR: each process answers only for itself%s",
                           " (import it after create_app, or set the variable)" if already_imported else "")
            folder = None
        record.recorder = prometheus.recorder()
        _folder, _enabled = folder, True
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_record_again_in_child)
        return _folder


def enabled() -> bool:
    return _enabled


def server_folder() -> Path | None:
    """The folder of this process's server (None before :func:`enable`, or in single-process mode)."""
    return _folder


def running(fingerprint: str, previous: str | None, *, stale: bool) -> None:
    """This process now runs ``fingerprint`` (applied now when it differs from ``previous``)."""
    global _running
    applied_at = time.time() if _running is None or fingerprint != _running[0] else _running[1]
    _running = (fingerprint, applied_at, stale)
    record.running(fingerprint, previous, applied_at)
    record.stale(stale)


def stale(is_stale: bool) -> None:
    global _running
    if _running is not None:
        _running = (_running[0], _running[1], is_stale)
    record.stale(is_stale)


def _record_again_in_child() -> None:
    if _running is not None:
        fingerprint, applied_at, is_stale = _running
        record.running(fingerprint, None, applied_at)
        record.stale(is_stale)
