"""A worker's and beat's metrics endpoint, started when the process starts (``worker_init``, in a worker's
main process before its pool forks; ``beat_init``), on ``metrics.worker_port`` or ``metrics.beat_port``:
the first free port of the range. The port is logged and a worker reports it to ``configsvc fleet``.
"""

from __future__ import annotations

import logging
import weakref
from typing import TYPE_CHECKING, Any

from celery.signals import beat_init, worker_init

from configsvc.celery.binding import binding_of
from configsvc.core.validation import port_range

if TYPE_CHECKING:
    from celery import Celery

    from configsvc.flask.state import ConfigState

logger = logging.getLogger("configsvc.metrics")

#: The port this process serves its metrics on (None: not served).
port: int | None = None
_served: weakref.WeakSet[Celery] = weakref.WeakSet()


def serve_metrics_when_started(celery: Celery) -> None:
    """When a worker or beat starts for ``celery`` with metrics enabled, serve them (once per app)."""
    if celery in _served:
        return
    _served.add(celery)
    reference = weakref.ref(celery)

    def on_start(key: str) -> Any:
        def started(sender: Any = None, **_: Any) -> None:
            target = reference()
            binding = binding_of(target)
            if binding is None or binding.state is None or getattr(sender, "app", None) is not target:
                return
            start(binding.state, key)

        return started

    worker_init.connect(on_start("worker_port"), weak=False)
    beat_init.connect(on_start("beat_port"), weak=False)


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
