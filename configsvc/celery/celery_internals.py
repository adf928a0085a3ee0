"""Every use of Celery's private parts, in one place. Checked against Celery 5.7.0.

A Celery app caches its broker pool (``_pool``), the producer pool built on it (``amqp._producer_pool``)
and its result backend (``_backend_cache`` when thread-safe, else one per thread in ``_local``): switching
broker or backend means dropping those caches so the next use builds new ones from the current settings.
The worker's consumer keeps a few counters of its own about connection attempts, and beat's scheduler
caches its producer and connection.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

from celery import Celery

logger = logging.getLogger("configsvc.celery")


class PlaceholderHooks(Celery):  # type: ignore[misc]
    """What a Celery app subclass can only learn by overriding Celery's private methods: the base class of
    each task made from a function (``_task_from_fun``), each result backend handed out
    (``_get_backend``) and each broker connection built (``_connection``, behind ``connection_for_read``,
    ``connection_for_write`` and ``connection``). A subclass defines ``task_base(base)``,
    ``backend_issued(backend)`` and ``connection_built(connection)``."""

    def _connection(self, url: Any, *args: Any, **kwargs: Any) -> Any:
        return self.connection_built(super()._connection(url, *args, **kwargs))

    def connection_built(self, connection: Any) -> Any:
        return connection

    def _task_from_fun(self, fun: Any, name: Any = None, base: Any = None, bind: bool = False,
                       **options: Any) -> Any:
        return super()._task_from_fun(fun, name=name, base=self.task_base(base), bind=bind, **options)

    def _get_backend(self) -> Any:
        backend = super()._get_backend()
        self.backend_issued(backend)
        return backend

    def task_base(self, base: Any) -> Any:
        return base

    def backend_issued(self, backend: Any) -> None:
        pass


def reset_settings(conf: Any, settings: dict[str, Any]) -> None:
    """Replace every setting changed since the app was made by ``settings``."""
    conf.changes.clear()
    conf.update(settings)


def forget_settings(conf: Any, keys: Any) -> None:
    """Settings set before that go back to Celery's defaults."""
    for key in keys:
        conf.changes.pop(key, None)


def has_event_loop(consumer: Any) -> bool:
    """True when the worker's consumer runs in an event loop (prefork, solo, threads on AMQP or Redis);
    False in Celery's blocking loop (gevent, eventlet, transports that cannot poll)."""
    return consumer.hub is not None


def call_in_loop(consumer: Any, function: Any, *args: Any) -> None:
    """Run ``function(*args)`` in the consumer's event loop soon; safe from another thread (kombu 5.7's
    ``call_soon`` wakes the loop)."""
    consumer.hub.call_soon(function, *args)


def stop_taking_messages(consumer: Any) -> None:
    """Cancel the worker's task consumer: no new messages on the current connection."""
    if consumer.task_consumer is not None:
        consumer.task_consumer.cancel()


def register_inspect_command(name: str, command: Any, args: list[tuple[str, type]]) -> None:
    """Register ``command`` as a remote-control inspect command (once per process)."""
    from celery.worker.control import Panel, inspect_command

    if name not in Panel.data:
        inspect_command(name=name, args=args)(command)


class TracerWrapping:
    """A task class mixin: the worker calls ``task.__trace__(uuid, args, kwargs, request)`` for each
    message (``celery.app.trace``), having set it to Celery's tracer; the tracer is stored wrapped by the
    class's ``wrap_tracer(tracer)``."""

    _traced: Any = None

    @property
    def __trace__(self) -> Any:
        return self._traced

    @__trace__.setter
    def __trace__(self, tracer: Any) -> None:
        self._traced = None if tracer is None else self.wrap_tracer(tracer)  # type: ignore[attr-defined]


def traced_exception(outcome: Any) -> BaseException | None:
    """The exception a task's body raised, from what Celery's tracer returned, or None when it succeeded.

    The tracer (``celery.app.trace.build_tracer``) catches what the task raises and returns
    ``trace_ok_t(retval, info, runtime, retstr)``; ``info`` is a ``TraceInfo`` (``state``, ``retval``: the
    exception) on failure, retry, reject and ignore, and None on success.
    """
    info = outcome[1] if isinstance(outcome, tuple) and len(outcome) == 4 else None
    raised = getattr(info, "retval", None)
    return raised if isinstance(raised, BaseException) else None


def traced_state(outcome: Any) -> str:
    """Celery's own outcome of a traced task: ``SUCCESS``, or the ``TraceInfo``'s state (``FAILURE``,
    ``RETRY``, ``REJECTED``, ``IGNORED``)."""
    info = outcome[1] if isinstance(outcome, tuple) and len(outcome) == 4 else None
    return "SUCCESS" if info is None else str(getattr(info, "state", "FAILURE"))


def register_control_command(name: str, command: Any, args: list[tuple[str, type]]) -> None:
    """Register ``command`` as a remote-control command that changes something (once per process)."""
    from celery.worker.control import Panel, control_command

    if name not in Panel.data:
        control_command(name=name, args=args)(command)


def settings_set_in_code(app: Celery) -> dict[str, Any]:
    """The settings code changed on the app's ``conf`` (``conf.update(...)``, ``conf.x = ...``). Until its
    configuration is loaded, ``conf`` is a ``PendingConfiguration`` that keeps such changes aside and
    shows every default as a change; reading one key loads it (as any use would), and the changes are then
    what code set (and ``deprecated_settings``, Celery's own bookkeeping, which must stay)."""
    app.conf.get("deprecated_settings")  # loads the configuration: PendingConfiguration -> Settings
    return dict(app.conf.changes)


def take_broker_pool(app: Celery) -> Any:
    """Detach and return the app's cached broker pool (None if there was none); the producer pools built
    on it are dropped too, so the next publish builds both from the current settings.

    One of them hides in the remote-control mailbox: kombu's ``Mailbox.producer_pool`` is a
    ``cached_property`` holding the pool it first saw (Celery only clears it after a fork). A worker fills it
    when it first answers a control message (another worker's mingle hello), and every bound copy of the
    mailbox inherits it; after a rotation closed that pool, the worker's next mingle died with
    "Acquire on closed pool".
    """
    pool = app.__dict__.get("_pool")
    app._pool = None
    amqp = app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None
    control = app.__dict__.get("control")
    if control is not None:
        control.mailbox.__dict__.pop("producer_pool", None)
    return pool


def drop_backends(app: Celery) -> None:
    """Forget the app's result backend in every thread: the next use builds one from the current settings."""
    app._backend_cache = None
    app._local = threading.local()


def subscribe_only_when_waiting(backend: Any) -> None:
    """Stop a Redis result backend from subscribing to each task's result as the task is published.

    Celery's ``RedisBackend.on_task_call`` subscribes the publishing process to the task's result channel
    (and dropping the ``AsyncResult`` unsubscribes): two Redis round trips, and a pub/sub connection held
    by every web process, for each task a view publishes and only returns the id of. Whatever waits for a
    result subscribes itself before it reads the stored state (``AsyncResult.get()`` and ``then()``, a
    result set or group as it is built), so nothing is missed without it. A backend class with an
    ``on_task_call`` of its own keeps it.
    """
    redis_module = sys.modules.get("celery.backends.redis")  # not imported: no Redis backend exists
    redis_backend = getattr(redis_module, "RedisBackend", None)
    if redis_backend is not None and isinstance(backend, redis_backend) \
            and type(backend).on_task_call is redis_backend.on_task_call:
        backend.on_task_call = _no_subscription


def _no_subscription(producer: Any, task_id: str) -> dict[str, Any]:
    return {}


def backend_redis_pool(backend: Any, create: bool = False) -> Any:
    """The redis connection pool of a redis result backend that has made its client (``create``: made
    now if not, which connects nothing), else None."""
    client = backend.__dict__.get("client")  # a cached_property: only present once used
    if client is None and create and _is_redis_backend(backend):
        client = backend.client
    return getattr(client, "connection_pool", None)


def _is_redis_backend(backend: Any) -> bool:
    redis_module = sys.modules.get("celery.backends.redis")  # not imported: no Redis backend exists
    redis_backend = getattr(redis_module, "RedisBackend", None)
    return redis_backend is not None and isinstance(backend, redis_backend)


def redis_connections_in_use(connection_pool: Any) -> int:
    """How many connections of a redis-py ``ConnectionPool`` are checked out (``_in_use_connections``,
    redis-py 5 to 7); 0 when the pool does not say."""
    in_use = getattr(connection_pool, "_in_use_connections", None)
    return len(in_use) if in_use is not None else 0


def backend_result_consumer(backend: Any) -> Any:
    """The result consumer (pub/sub connection) of an async result backend, if it has one."""
    return backend.__dict__.get("result_consumer")


def retry_setting(consumer: Any) -> bool:
    """Whether the worker's consumer should keep retrying a connection (Celery's own setting names)."""
    first: bool = getattr(consumer, "first_connection_attempt", True)
    retry = consumer.app.conf.get(consumer._get_connection_retry_type(first))
    if retry is None:
        retry = consumer.app.conf.broker_connection_retry
    return bool(retry)


def is_first_connection(consumer: Any) -> bool:
    """True until the worker's consumer has connected once."""
    return bool(getattr(consumer, "first_connection_attempt", True))


def mark_connected(consumer: Any) -> None:
    """Tell the consumer a connection succeeded (its attempt counters start again)."""
    consumer.first_connection_attempt = False
    consumer.broker_connection_retry_attempt = 0


def drop_beat_connection(scheduler: Any) -> None:
    """Forget beat's cached producer and connection (``Scheduler.producer`` and ``.connection`` are
    cached properties): the next publish opens a connection with the current settings. The old one is
    released (closing it; the broker may already have closed it)."""
    scheduler.__dict__.pop("producer", None)
    connection = scheduler.__dict__.pop("connection", None)
    if connection is not None:
        try:
            connection.release()
        except Exception as error:  # a connection the broker already dropped
            logger.debug("releasing beat's old connection: %s", type(error).__name__)


#: How long the close handshake of a connection left after a planned switch may take (as Celery bounds
#: its own teardown reads, ``COLLECT_SOCKET_TIMEOUT``).
CLOSE_SECONDS = 5.0


def close_after_planned_switch(consumer: Any) -> None:
    """End the consumer's connection with AMQP's close handshake and forget it, keeping the configured
    prefetch for the next one. For a switch configsvc planned, in place of Celery's handling of a lost
    connection (``Consumer.on_connection_error_after_connected``), which drops the socket without the
    handshake (``collect()``: an acknowledgement still unread by the broker can be lost with it), lowers
    the prefetch count as after an outage (and raises it one step per acknowledgement), and warns about
    tasks cancelled on connection loss, when nothing was in flight.

    The socket's reads are bounded first (Celery's ``bound_open_broker_sockets``): a broker that went
    silent meanwhile cannot hold the consumer in the handshake.
    """
    from celery.utils.threads import bound_open_broker_sockets

    connection, consumer.connection = consumer.connection, None
    if connection is not None:
        bound_open_broker_sockets(connection, CLOSE_SECONDS)
        try:
            connection.close()
        except Exception as error:  # the broker already dropped it: nothing left to settle on it
            logger.debug("closing the consumer's connection after a switch: %s", type(error).__name__)
    # The configured prefetch count, also when an earlier outage left it lowered and still rising: the
    # count the worker started with, not Celery's ceiling (pool size x multiplier), which is lower for a
    # solo pool (it started at 2 and came back at 1 after a switch that followed an outage).
    if not consumer._maximum_prefetch_restored:
        consumer.initial_prefetch_count = getattr(consumer, "configured_prefetch_count",
                                                  consumer.max_prefetch_count)
        consumer._maximum_prefetch_restored = True


def skip_mingle_once(consumer: Any) -> None:
    """Make the consumer's next start skip mingle (its one-second wait for neighbours' hellos).

    Mingle syncs revoked tasks and clocks when a worker *joins*; after configsvc switches the consumer to
    new broker settings the process and its state are the same, so the sync would only cost a second of
    consuming per rotation. Only the next start is affected (``Mingle.start`` is restored after it).
    """
    step = consumer.blueprint.steps.get("celery.worker.consumer.mingle.Mingle")
    if step is None or not getattr(step, "enabled", False) or "start" in step.__dict__:
        return

    def start_once_without_sync(c: Any) -> None:
        del step.start  # back to Mingle.start for any later (re)start

    step.start = start_once_without_sync
