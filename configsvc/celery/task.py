"""The task class of :class:`configsvc.celery.FlaskCelery`: every task runs in the bound app's context.

In a worker the whole execution is wrapped (Celery's tracer, through
:class:`~configsvc.celery.celery_internals.TracerWrapping`), so the task signal handlers run in the same
fresh app context as the task and ``g`` never leaks between tasks. Called directly or eagerly, a task
reuses an app context that is already pushed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from celery import Task
from flask import Flask, has_request_context, request

from configsvc.celery.app_context import TaskAppContext, task_context_class
from configsvc.celery.binding import binding_of
from configsvc.celery.celery_internals import TracerWrapping, traced_exception, traced_state
from configsvc.errors import CeleryNotConfigured
from configsvc.flask.flask_internals import current_app_context
from configsvc.rollout import outcomes

if TYPE_CHECKING:
    from celery.result import AsyncResult

#: Celery's traced call of a task in a worker: ``(uuid, args, kwargs, request)`` to its outcome.
Tracer = Callable[..., Any]

# Request headers a request-context task may carry; never Authorization or Cookie, whatever is asked.
DEFAULT_REQUEST_HEADERS = ("Accept", "Accept-Language", "User-Agent", "X-Request-Id", "X-Forwarded-For")
NEVER_FORWARDED = frozenset({"authorization", "cookie", "proxy-authorization", "set-cookie"})
REQUEST_HEADER = "configsvc_request"


class AppContextTask(TracerWrapping, Task):  # type: ignore[misc]
    """Runs every task inside the bound Flask app's context, reusing one already pushed.

    In a worker, the whole execution is wrapped (Celery's tracer, see :meth:`wrap_tracer`), so the task
    signal handlers (``task_prerun``, ``task_success``, ``task_failure``, ``task_postrun``) run in the same
    fresh app context as the task. Called directly or eagerly, the task body gets a context.
    ``request_context = True`` on a task also rebuilds the originating request (see
    :meth:`apply_async`).
    """

    abstract = True
    request_context = False
    #: The app context class pushed around each task in a worker; None: :func:`task_context_class`'s
    #: choice (Flask's own push and pop where the lean ones do not fit the installed Flask).
    app_context_class: type[TaskAppContext] | None = None

    def wrap_tracer(self, tracer: Tracer) -> Tracer:
        """The worker's traced call of this task, inside a fresh app context (see the class)."""
        celery_app = self.app  # a class property (two Python calls): looked up once, not per task
        context_class = self.app_context_class or task_context_class()

        def traced(uuid: str, args: Any, kwargs: Any, request: Any = None) -> Any:
            # push/pop rather than ``with`` (this runs for every task). Teardown gets the exception the
            # task raised: Celery's tracer catches it and returns it in its outcome, so a teardown that
            # commits only when the exception is None never commits a failed task's work.
            binding = celery_app.binding
            context = context_class(binding.app if binding is not None else self._flask())
            context.push()
            try:
                outcome = tracer(uuid, args, kwargs, request)
            except BaseException as error:
                context.pop(error)
                raise
            context.pop(traced_exception(outcome))
            outcomes.count(traced_state(outcome))
            return outcome

        return traced

    def _flask(self) -> Flask:
        binding = binding_of(self.app)
        if binding is None:
            raise CeleryNotConfigured()
        return binding.app

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # The common case, kept short: in a worker, wrap_tracer pushed a fresh app context around Celery's
        # tracer, which has pushed the task request too: run the body directly (Task.__call__ would
        # push a second request that hides the task id).
        if isinstance(current_app_context(None), TaskAppContext) and not self.request_context:
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

    def apply_async(self, args: Any = None, kwargs: Any = None, **options: Any) -> AsyncResult:
        """Publish; a request-context task takes the current request's path, method, query string and
        allowed headers along (never ``Authorization`` or ``Cookie``)."""
        if self.request_context and has_request_context():
            headers = dict(options.pop("headers", None) or {})
            headers[REQUEST_HEADER] = request_snapshot(self._flask())
            options["headers"] = headers
        return super().apply_async(args, kwargs, **options)


def _is_current(flask_app: Flask) -> bool:
    # One context-variable lookup: this runs for every task.
    context = current_app_context(None)
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
