"""A Celery app that is created unconfigured at import and bound to a Flask app by ``init_app``.

Tasks import the placeholder, not the Flask app, so there is no import cycle. Until ``init_app`` binds a
resolved configuration, anything that would reach a broker or result backend raises
:class:`configsvc.CeleryNotConfigured` at once instead of falling back to ``amqp://guest@localhost``.
Binding again (a second ``create_app()``) replaces the configuration, connection pools and backend.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from celery import Celery, Task
from flask import Flask, has_request_context, request
from flask.globals import _cv_app
from kombu import pools as kombu_pools

from configsvc.core.redaction import mask_url
from configsvc.errors import CeleryNotConfigured, ConfigError, Problem

EXTENSION_NAME = "celery"
WORKER_CONSUMER = "configsvc.celery.worker:Consumer"
# How long a retired connection pool may keep connections that are in use (an in-flight publish)
# before they are closed, and how long a retired result backend keeps its connections.
RETIRE_GRACE_SECONDS = 30.0
BACKEND_GRACE_SECONDS = 5.0

logger = logging.getLogger("configsvc.celery")

_NOT_BOUND = (
    "the Celery app is used before create_app() configured it; call create_app() first "
    "(workers: celery -A worker_entry.celery worker), so tasks never go to a default broker"
)


class FlaskCelery(Celery):  # type: ignore[misc]
    """The Celery placeholder: ``celery = FlaskCelery("app")`` at import, ``celery.init_app(app)`` later."""

    def __init__(self, main: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("task_cls", f"{__name__}:AppContextTask")
        super().__init__(main, **kwargs)
        self._flask_app: Flask | None = None
        #: Counts changes of the broker settings since binding; the worker's consumer follows it.
        self.broker_generation = 0
        self._issued_backends: weakref.WeakSet[Any] = weakref.WeakSet()
        from configsvc.celery.worker import RotationStep

        self.steps["consumer"].add(RotationStep)

    @property
    def flask_app(self) -> Flask:
        """The Flask app this Celery app is bound to; raises when none is."""
        if self._flask_app is None:
            raise CeleryNotConfigured(Problem(_NOT_BOUND, kind="config", source="celery"))
        return self._flask_app

    @property
    def is_bound(self) -> bool:
        """True once ``init_app`` has bound a configuration."""
        return self._flask_app is not None

    def init_app(self, app: Flask) -> None:
        """Bind ``app.config["CELERY"]`` into this Celery app; register it as ``app.extensions["celery"]``."""
        if EXTENSION_NAME in app.extensions:
            raise RuntimeError(
                "A Celery app is already registered on this Flask app; create a new Flask app "
                "(create_app()) to bind a new configuration instead of calling init_app twice."
            )
        settings = _with_control_folder(dict(app.config.get("CELERY") or {}))
        settings.setdefault("worker_consumer", WORKER_CONSUMER)
        self._reset_connections()
        self.conf.changes.clear()
        self.conf.update(settings)
        self.main = app.import_name
        self.broker_generation = 0
        _prepare_embedded_folders(settings)
        self._flask_app = app
        app.extensions[EXTENSION_NAME] = self

    def reconfigure(self, settings: Mapping[str, Any]) -> tuple[bool, bool]:
        """Switch a bound app to new Celery settings without cutting anything in flight.

        The next publish uses the new broker settings: the connection pool is retired (idle connections
        close now, the ones in use when they come back). A changed result backend is replaced the same
        way. A worker's consumer follows :attr:`broker_generation` (see ``configsvc.celery.worker``).
        Returns whether the broker and the result backend settings changed.
        """
        new = _with_control_folder(dict(settings))
        new.setdefault("worker_consumer", self.conf.get("worker_consumer") or WORKER_CONSUMER)
        old = dict(self.conf.changes)
        broker_changed = _section(old, _BROKER_KEYS) != _section(new, _BROKER_KEYS)
        backend_changed = _section(old, _BACKEND_KEYS) != _section(new, _BACKEND_KEYS)
        for key in set(old) - set(new):
            self.conf.changes.pop(key, None)
        self.conf.update(new)
        _prepare_embedded_folders(new)
        if broker_changed:
            self._retire_pool()
            self.broker_generation += 1
        if backend_changed:
            self._retire_backend()
        return broker_changed, backend_changed

    def preflight(self, settings: Mapping[str, Any], timeout: float = 2.0) -> None:
        """Raise :class:`ConfigError` when the broker or a Redis result backend refuses the credentials
        in ``settings``. A server that cannot be reached is not a refusal: nothing is raised then."""
        problems = []
        broker_url = settings.get("broker_url")
        if broker_url and _section(settings, _BROKER_KEYS) != _section(self.conf.changes, _BROKER_KEYS):
            connection: Any = None
            try:
                connection = self.connection_for_write(url=broker_url, connect_timeout=timeout)
                connection.transport_options = dict(settings.get("broker_transport_options") or {})
                connection.ensure_connection(max_retries=0, timeout=timeout)
            except Exception as error:
                if is_auth_failure(error):
                    problems.append(Problem(
                        f"the broker refused the new credentials ({mask_url(str(broker_url))})",
                        kind="config", key="celery.broker_url", source="broker"))
                elif isinstance(error, _UNUSABLE) and not isinstance(error, OSError):
                    problems.append(Problem(
                        f"the new broker URL cannot be used ({type(error).__name__})",
                        kind="config", key="celery.broker_url", source="broker"))
            finally:
                if connection is not None:
                    with contextlib.suppress(Exception):
                        connection.release()
        backend = settings.get("result_backend")
        if isinstance(backend, str) and backend.startswith(("redis://", "rediss://")) and \
                _section(settings, _BACKEND_KEYS) != _section(self.conf.changes, _BACKEND_KEYS):
            import redis

            try:
                client = redis.Redis.from_url(backend, socket_connect_timeout=timeout, socket_timeout=timeout)
                try:
                    client.ping()
                finally:
                    client.close()
            except Exception as error:
                if is_auth_failure(error):
                    problems.append(Problem(
                        f"the result backend refused the new credentials ({mask_url(backend)})",
                        kind="config", key="celery.result_backend", source="result backend"))
        if problems:
            raise ConfigError(problems)

    def _retire_pool(self) -> None:
        old: Any = self.__dict__.get("_pool")
        self._pool = None
        amqp = self.__dict__.get("amqp")
        if amqp is not None:
            amqp._producer_pool = None
        if old is not None:
            _forget_pool(old)
            _in_background(_close_when_idle, old, RETIRE_GRACE_SECONDS)

    def _retire_backend(self) -> None:
        # A backend that is not thread-safe lives in a thread-local: every thread's copy is retired.
        old, self._issued_backends = list(self._issued_backends), weakref.WeakSet()
        self._backend_cache = None
        self._local = threading.local()
        for backend in old:
            _in_background(_close_backend, backend, BACKEND_GRACE_SECONDS)

    def _task_from_fun(self, fun: Any, name: Any = None, base: Any = None, bind: bool = False,
                       **options: Any) -> Any:
        # A custom base class gets the app context too: mix AppContextTask in front of it.
        if base is not None and not issubclass(base, AppContextTask):
            base = type(base.__name__, (AppContextTask, base), {"__module__": base.__module__})
        return super()._task_from_fun(fun, name=name, base=base, bind=bind, **options)

    def _reset_connections(self) -> None:
        # Nothing from an earlier binding may survive: broker pool, producer pool, result backend.
        # app.pool is kombu's global pool for the broker URL: take it (and the producer pool built on it)
        # out of kombu's registries before closing it, or the next binding to that URL gets a closed pool.
        old: Any = self.__dict__.get("_pool")
        if old is not None:
            _forget_pool(old)
            old.force_close_all()
            self._pool = None
        amqp = self.__dict__.get("amqp")
        if amqp is not None:
            amqp._producer_pool = None
        self._backend_cache = None
        self._local = threading.local()

    def broker_reachable(self, timeout: float = 1.5) -> bool:
        """True when the bound broker accepts a connection within ``timeout`` seconds (one attempt)."""
        try:
            with self.connection_for_write(connect_timeout=timeout) as connection:
                connection.ensure_connection(max_retries=0, timeout=timeout)
        except CeleryNotConfigured:
            raise
        except Exception:  # any transport's failure to connect means "not reachable"
            return False
        return True

    # Everything that reaches a broker or backend goes through one of these.
    def connection_for_write(self, url: Any = None, **kwargs: Any) -> Any:
        self.flask_app  # noqa: B018 - raises when not bound
        return super().connection_for_write(url, **kwargs)

    def connection_for_read(self, url: Any = None, **kwargs: Any) -> Any:
        self.flask_app  # noqa: B018
        return super().connection_for_read(url, **kwargs)

    def send_task(self, *args: Any, **kwargs: Any) -> Any:
        self.flask_app  # noqa: B018
        return super().send_task(*args, **kwargs)

    def _get_backend(self) -> Any:
        self.flask_app  # noqa: B018
        backend = super()._get_backend()
        self._issued_backends.add(backend)
        return backend


# Settings that decide how a connection to the broker, or to the result backend, is made.
_BROKER_KEYS = ("broker_",)
_BACKEND_KEYS = ("result_backend", "redis_", "result_backend_transport_options", "database_",
                 "mongodb_", "cassandra_", "s3_", "azureblockblob_", "elasticsearch_", "couchbase_")


def _section(settings: Mapping[str, Any], prefixes: tuple[str, ...]) -> dict[str, Any]:
    return {key: value for key, value in settings.items() if key.startswith(prefixes)}


def _forget_pool(pool: Any) -> None:
    # app.pool is kombu's global pool for the broker URL: take it (and the producer pool built on it)
    # out of kombu's registries, or the next binding to that URL gets a closed pool.
    for group in (kombu_pools.connections, kombu_pools.producers):
        for key, registered in list(group.items()):  # keys are stored already hashed
            if registered is pool or getattr(registered, "connections", None) is pool:
                dict.__delitem__(group, key)


def _in_background(function: Any, *args: Any) -> None:
    threading.Thread(target=function, args=args, name="configsvc-retire", daemon=True).start()


def _close_when_idle(pool: Any, grace: float) -> None:
    """Close a retired pool's connections once none is in use (or after ``grace`` seconds)."""
    deadline = time.monotonic() + grace
    while getattr(pool, "_dirty", None) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        pool.force_close_all()
    except Exception as error:  # closing a connection the broker already dropped
        logger.debug("closing a retired broker pool: %s", type(error).__name__)


def _close_backend(backend: Any, grace: float) -> None:
    """Close a retired result backend's connections: idle ones now, the rest after ``grace`` seconds."""
    client = backend.__dict__.get("client")
    connection_pool = getattr(client, "connection_pool", None)
    if connection_pool is None:
        return
    try:
        connection_pool.disconnect(inuse_connections=False)
        time.sleep(grace)
        result_consumer = backend.__dict__.get("result_consumer")
        if result_consumer is not None and hasattr(result_consumer, "stop"):
            result_consumer.stop()  # its subscription connection
        connection_pool.disconnect()
    except Exception as error:
        logger.debug("closing a retired result backend: %s", type(error).__name__)


# Errors that mean the URL itself is wrong (bad host name, unknown transport), not that the server is down.
_UNUSABLE = (ValueError, LookupError, ImportError, TypeError)
_AUTH_FAILURES = frozenset({"AccessRefused", "AuthenticationError", "AuthenticationWrongNumberOfArgsError"})
_AUTH_MARKERS = ("ACCESS_REFUSED", "WRONGPASS", "NOAUTH", "invalid username-password")


def is_auth_failure(error: BaseException) -> bool:
    """True when the broker or backend refused the credentials (anywhere in the exception chain)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if type(current).__name__ in _AUTH_FAILURES or any(m in str(current) for m in _AUTH_MARKERS):
            return True
        current = current.__cause__ or current.__context__
    return False


# Request headers a request-context task may carry; never Authorization or Cookie, whatever is asked.
DEFAULT_REQUEST_HEADERS = ("Accept", "Accept-Language", "User-Agent", "X-Request-Id", "X-Forwarded-For")
NEVER_FORWARDED = frozenset({"authorization", "cookie", "proxy-authorization", "set-cookie"})
REQUEST_HEADER = "configsvc_request"
_TRACE_MARK = "configsvc_trace"


class AppContextTask(Task):  # type: ignore[misc]
    """Runs every task inside the bound Flask app's context, reusing one already pushed.

    In a worker, the whole execution is wrapped (Celery calls ``task.__trace__``), so the task signal
    handlers (``task_prerun``, ``task_success``, ``task_failure``, ``task_postrun``) run in the same
    fresh app context as the task. Called directly or eagerly, the task body gets a context.
    ``request_context = True`` on a task also rebuilds the originating request (see
    :meth:`apply_async`).
    """

    abstract = True
    request_context = False
    _traced: Any = None

    @property
    def __trace__(self) -> Any:
        return self._traced

    @__trace__.setter
    def __trace__(self, tracer: Any) -> None:
        if tracer is None:
            self._traced = None
            return

        def traced(uuid: str, args: Any, kwargs: Any, request: Any = None) -> Any:
            flask_app: Flask = getattr(self.app, "_flask_app", None) or self._flask()
            context = flask_app.app_context()
            setattr(context, _TRACE_MARK, True)  # tells __call__ it runs inside this wrapper
            with context:
                return tracer(uuid, args, kwargs, request)

        self._traced = traced

    def _flask(self) -> Flask:
        flask_app: Flask | None = getattr(self.app, "_flask_app", None)
        if flask_app is None:
            raise CeleryNotConfigured(Problem(_NOT_BOUND, kind="config", source="celery"))
        return flask_app

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # The common case, kept short: in a worker, __trace__ pushed a fresh app context around Celery's
        # tracer, which has pushed the task request too: run the body directly (Task.__call__ would
        # push a second request that hides the task id).
        if getattr(_cv_app.get(None), _TRACE_MARK, False) and not self.request_context:
            return self.run(*args, **kwargs)
        return self._call_in_context(*args, **kwargs)

    def _call_in_context(self, *args: Any, **kwargs: Any) -> Any:
        flask_app = self._flask()
        traced_request = self.request_stack.top
        body = self.run if traced_request is not None else super().__call__
        snapshot = traced_request.get(REQUEST_HEADER) if traced_request is not None and \
            self.request_context else None
        with contextlib.ExitStack() as stack:
            if not _is_current(flask_app):
                stack.enter_context(flask_app.app_context())
            if snapshot:
                stack.enter_context(flask_app.test_request_context(
                    snapshot.get("path", "/"), method=snapshot.get("method", "GET"),
                    query_string=snapshot.get("query_string", ""), headers=snapshot.get("headers", {})))
            return body(*args, **kwargs)

    def apply_async(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        """Publish; a request-context task takes the current request's path, method, query string and
        allowed headers along (never ``Authorization`` or ``Cookie``)."""
        if self.request_context and has_request_context():
            headers = dict(options.pop("headers", None) or {})
            headers[REQUEST_HEADER] = request_snapshot(self._flask())
            options["headers"] = headers
        return super().apply_async(args, kwargs, **options)


def _is_current(flask_app: Flask) -> bool:
    # One context-variable lookup: this runs for every task.
    context = _cv_app.get(None)
    return context is not None and context.app is flask_app


def request_snapshot(flask_app: Flask) -> dict[str, Any]:
    """What a request-context task may know of the current request."""
    allowed = flask_app.config.get("TASK_REQUEST_HEADERS") or DEFAULT_REQUEST_HEADERS
    names = {name.lower() for name in allowed} - NEVER_FORWARDED
    return {
        "path": request.path,
        "method": request.method,
        "query_string": request.query_string.decode("latin-1"),
        "headers": {k: v for k, v in request.headers.items() if k.lower() in names},
    }


def _with_control_folder(settings: dict[str, Any]) -> dict[str, Any]:
    """kombu's filesystem transport keeps its exchange tables in ``control/`` under the *working
    directory* unless told otherwise: put them beside the queue folder, where web and worker both look."""
    options = settings.get("broker_transport_options")
    if str(settings.get("broker_url", "")).startswith("filesystem://") and isinstance(options, dict) \
            and options.get("data_folder_in") and not options.get("control_folder"):
        queue = Path(options["data_folder_in"])
        settings["broker_transport_options"] = {**options, "control_folder": str(queue.parent / "control")}
    return settings


def _prepare_embedded_folders(settings: dict[str, Any]) -> None:
    """Create the folders kombu's filesystem transport and the file:// backend need."""
    if str(settings.get("broker_url", "")).startswith("filesystem://"):
        options = settings.get("broker_transport_options") or {}
        for name in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
            if options.get(name):
                Path(options[name]).mkdir(parents=True, exist_ok=True)
    backend = settings.get("result_backend")
    if isinstance(backend, str) and backend.startswith("file://"):
        Path(urlsplit(backend).path).mkdir(parents=True, exist_ok=True)
