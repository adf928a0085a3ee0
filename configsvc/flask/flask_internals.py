"""Every use of Flask's private parts, in one place. Checked against Flask 3.1.3.

A worker pushes an app context around every task. Flask's ``AppContext.push`` and ``pop`` send three
blinker signals and look up the exception being handled whether or not anything listens; around a task
that is a few percent of what the whole traced call costs. :func:`push` and :func:`pop` do exactly what
Flask 3.1's do — the same context variable (``_cv_app``) and token list (``_cv_tokens``), teardown
functions with the exception, every signal that has a receiver — and skip only the sends that would
reach nobody. :func:`lean_contexts_supported` says whether the installed Flask's ``push`` and ``pop``
still are 3.1's (Flask 3.2 merges the request context into the app context and changes both); where
they are not, callers use Flask's own.
"""

from __future__ import annotations

import sys
from typing import Any

from flask import Flask
from flask.ctx import AppContext
from flask.globals import _cv_app, _cv_request
from flask.signals import appcontext_popped, appcontext_pushed, appcontext_tearing_down

#: The current app context or None (``current_app_context(None)``): looked up for every task.
current_app_context = _cv_app.get
#: The current request context or None (``current_request_context(None)``): a request's unit of work.
current_request_context = _cv_request.get

# The names Flask 3.1's push and pop refer to. A Flask that pushes or pops differently refers to other
# names, and its own push and pop are used.
FLASK_31_NAMES = {
    "push": {"_cv_app", "_cv_tokens", "app", "appcontext_pushed", "append", "ensure_sync", "send", "set"},
    "pop": {"AssertionError", "_cv_app", "_cv_tokens", "_sentinel", "app", "appcontext_popped",
            "do_teardown_appcontext", "ensure_sync", "exc_info", "get", "len", "pop", "reset", "send", "sys"},
}
NOT_GIVEN: Any = object()
_flask_teardown = Flask.do_teardown_appcontext


def lean_contexts_supported(context_class: type[AppContext] = AppContext) -> bool:
    """True when ``context_class``'s push and pop are Flask 3.1's (the names their code refers to);
    looked at once per class."""
    supported = _checked.get(context_class)
    if supported is None:
        supported = _checked[context_class] = all(
            set(getattr(context_class, name).__code__.co_names) == names
            for name, names in FLASK_31_NAMES.items())
    return supported


_checked: dict[type[AppContext], bool] = {}


def push(context: AppContext) -> None:
    """Flask 3.1's ``AppContext.push``, sending ``appcontext_pushed`` only when it has receivers."""
    context._cv_tokens.append(_cv_app.set(context))
    if appcontext_pushed.receivers:
        appcontext_pushed.send(context.app, _async_wrapper=context.app.ensure_sync)


def pop(context: AppContext, exc: BaseException | None = NOT_GIVEN) -> None:
    """Flask 3.1's ``AppContext.pop``: teardown (with ``exc``, else the exception being handled) only when
    there is teardown work, ``appcontext_popped`` only when it has receivers."""
    app = context.app
    try:
        if len(context._cv_tokens) == 1 and _tears_down(app):
            app.do_teardown_appcontext(sys.exc_info()[1] if exc is NOT_GIVEN else exc)
    finally:
        current = _cv_app.get()
        _cv_app.reset(context._cv_tokens.pop())
    if current is not context:
        raise AssertionError(f"Popped wrong app context. ({current!r} instead of {context!r})")
    if appcontext_popped.receivers:
        appcontext_popped.send(app, _async_wrapper=app.ensure_sync)


def _tears_down(app: Flask) -> bool:
    """Whether popping has teardown work: a teardown function, a tearing-down receiver, or an app class
    with a teardown of its own."""
    return bool(app.teardown_appcontext_funcs or appcontext_tearing_down.receivers
                or type(app).do_teardown_appcontext is not _flask_teardown)


def current_flask_app() -> Flask:
    """The app behind ``flask.current_app`` (the proxy's object)."""
    from flask import current_app

    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    return app
