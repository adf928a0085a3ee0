"""Following a new configuration in a bound Celery app, without cutting anything in flight.

Only the settings whose resolved values changed are touched: what the app set in code after binding
(``task_default_queue``, a ``beat_schedule`` with ``crontab()``) stays. New broker settings retire the
connection pool (idle connections close now, the ones in use when they come back) and bump
``broker_generation``, which the worker's consumer follows; a new result backend is swapped the same way.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from configsvc.celery import celery_internals, kombu_internals
from configsvc.celery.embedded import prepare_folders, with_control_folder
from configsvc.celery.preflight import preflight
from configsvc.celery.settings_groups import backend_settings, broker_settings
from configsvc.core.config import Config

if TYPE_CHECKING:
    from configsvc.celery.placeholder import FlaskCelery

logger = logging.getLogger("configsvc.celery")

# How long a retired connection pool may keep connections that are in use (an in-flight publish)
# before they are closed, and how long a retired result backend keeps its connections.
RETIRE_GRACE_SECONDS = 30.0
BACKEND_GRACE_SECONDS = 5.0
_MISSING: Any = object()


class CeleryFollower:
    """The Celery binding's part in a reload (a :class:`configsvc.flask.ReloadParticipant`)."""

    def __init__(self, celery: FlaskCelery) -> None:
        self.celery = celery

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CeleryFollower) and other.celery is self.celery

    def __hash__(self) -> int:
        return id(self.celery)

    def check_config(self, old: Config, new: Config, *, forced: bool = False) -> None:
        """Refuse (ConfigError) new credentials that the broker or a Redis backend refuses; put off
        (Deferred) a new broker that cannot be reached while the current one can, unless ``forced``."""
        preflight(self.celery, new.celery_settings(), old.celery_settings(), forced=forced)

    def apply_config(self, old: Config, new: Config) -> None:
        """Switch to the new Celery settings."""
        reconfigure(self.celery, old.celery_settings(), new.celery_settings())
        self.celery.fingerprints[self.celery.connection_generation] = new.fingerprint


def reconfigure(celery: FlaskCelery, old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[bool, bool]:
    """Change the settings that differ between ``old`` and ``new`` (removed ones go back to Celery's
    defaults). Returns whether the broker and the result backend settings changed."""
    before, after = with_control_folder(dict(old)), with_control_folder(dict(new))
    broker_changed = broker_settings(before) != broker_settings(after)
    backend_changed = backend_settings(before) != backend_settings(after)
    for key in set(before) - set(after):
        celery.conf.changes.pop(key, None)
    celery.conf.update({key: value for key, value in after.items() if before.get(key, _MISSING) != value})
    prepare_folders(after)
    if broker_changed:
        retire_pool(celery)
        celery.broker_generation += 1
    if backend_changed:
        retire_backends(celery)
    if broker_changed or backend_changed:
        celery.connection_generation += 1
    return broker_changed, backend_changed


def retire_pool(celery: FlaskCelery) -> None:
    """The next publish opens a new connection; the old pool closes once its connections come back
    (counted in ``open_retired`` until then, under the generation it was made for)."""
    old = celery_internals.take_broker_pool(celery)
    if old is not None:
        kombu_internals.forget_pool(old)
        _retire(celery, kombu_internals.close_when_idle, old, RETIRE_GRACE_SECONDS)


def retire_backends(celery: FlaskCelery) -> None:
    """Every result backend handed out so far (one per thread for some) is replaced and later closed."""
    old, celery.issued_backends = list(celery.issued_backends), weakref.WeakSet()
    celery_internals.drop_backends(celery)
    for backend in old:
        _retire(celery, _close_backend, backend, BACKEND_GRACE_SECONDS)


def _retire(celery: FlaskCelery, close: Callable[[Any, float], None], old: Any, grace: float) -> None:
    """Close ``old`` in the background, counted in ``open_retired`` under the current connection
    generation until it is closed."""
    generation = celery.connection_generation
    celery.open_retired[generation] += 1

    def run() -> None:
        try:
            close(old, grace)
        finally:
            celery.open_retired[generation] -= 1

    threading.Thread(target=run, name="configsvc-retire", daemon=True).start()


def _close_backend(backend: Any, grace: float) -> None:
    """Close a retired result backend's connections: idle ones now, the rest once they are no longer in
    use (at the latest after ``grace`` seconds)."""
    connection_pool = celery_internals.backend_redis_pool(backend)
    if connection_pool is None:
        return
    try:
        connection_pool.disconnect(inuse_connections=False)
        deadline = time.monotonic() + grace  # connections in use (a result being stored) may finish
        while celery_internals.redis_connections_in_use(connection_pool) and time.monotonic() < deadline:
            time.sleep(0.05)
        result_consumer = celery_internals.backend_result_consumer(backend)
        if result_consumer is not None and hasattr(result_consumer, "stop"):
            result_consumer.stop()  # its subscription connection
        connection_pool.disconnect()
    except Exception as error:
        logger.debug("closing a retired result backend: %s", type(error).__name__)
