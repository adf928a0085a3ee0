"""A worker's and beat's metrics endpoint, started when the process starts (``worker_init``, in a worker's
main process before its pool forks; ``beat_init``), on ``metrics.worker_port`` or ``metrics.beat_port``:
the first free port of the range. The port is logged and a worker reports it to ``configsvc fleet``.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING

from celery.signals import beat_init, worker_init

from configsvc.celery.binding import Binding
from configsvc.celery.process_start import when_started
from configsvc.core.validation import port_range

if TYPE_CHECKING:
    from celery import Celery

    from configsvc.flask.state import ConfigState

logger = logging.getLogger("configsvc.metrics")

#: The port this process serves its metrics on (None: not served).
port: int | None = None


def serve_metrics_when_started(celery: Celery) -> None:
    """When a worker or beat starts for ``celery`` with metrics enabled, serve them (once per app)."""
    when_started(celery, worker_init, "metrics on worker_port", functools.partial(_started, "worker_port"))
    when_started(celery, beat_init, "metrics on beat_port", functools.partial(_started, "beat_port"))


def _started(key: str, binding: Binding, _process: object) -> None:
    if binding.state is not None:
        start(binding.state, key)


def start(state: ConfigState, key: str) -> int | None:
    """Serve this process's server's metrics on the first free port of ``metrics.<key>``."""
    global port
    config = state.config
    if not config.reveal("metrics.enabled") or port is not None:
        return port
    ports = port_range(str(config.reveal(f"metrics.{key}") or ""))
    if ports is None:
        logger.error("configsvc: metrics not served: no metrics.%s", key)
        return None
    from configsvc import metrics
    from configsvc.metrics.serving import MetricsApp, serve

    def token() -> str | None:
        value = state.config.reveal("metrics.token")  # the running configuration's, at each scrape
        return str(value) if value else None

    port = serve(ports, MetricsApp(metrics.enable(), token))
    if port is not None:
        logger.info("configsvc: metrics on port %d (metrics.%s)", port, key)
    return port
