"""The app context a worker pushes around each task: Flask's own, without the cost of signals nobody hears.

Flask's ``AppContext.push`` and ``pop`` send three blinker signals (``appcontext_pushed``,
``appcontext_tearing_down``, ``appcontext_popped``) and look up the exception being handled, whether or not
anything listens. Around a task that is a few percent of what the whole traced call costs. A
:class:`TaskAppContext` does exactly what Flask's does (teardown functions with the exception, every
signal that has a receiver, the same context variable) and skips only the sends that would reach nobody.

It uses Flask's private context variable and the token list Flask 3.1's ``AppContext`` keeps; where the
installed Flask's ``push`` or ``pop`` differ from 3.1's (checked at import) the context is Flask's own.
"""

from __future__ import annotations

import sys

from flask import Flask
from flask.ctx import AppContext
from flask.globals import _cv_app
from flask.signals import appcontext_popped, appcontext_pushed, appcontext_tearing_down

#: The current app context or None; bound once, it is looked up for every task.
current_app_context = _cv_app.get

# What Flask 3.1's push and pop refer to. Any change to them (a Flask that pushes or pops differently)
# changes these names, and the context is then Flask's own.
_FLASK_31 = {
    "push": {"_cv_app", "_cv_tokens", "app", "appcontext_pushed", "append", "ensure_sync", "send", "set"},
    "pop": {"AssertionError", "_cv_app", "_cv_tokens", "_sentinel", "app", "appcontext_popped",
            "do_teardown_appcontext", "ensure_sync", "exc_info", "get", "len", "pop", "reset", "send", "sys"},
}
_LEAN = all(set(getattr(AppContext, name).__code__.co_names) == names for name, names in _FLASK_31.items())
_NOT_GIVEN = object()
_flask_teardown = Flask.do_teardown_appcontext


class TaskAppContext(AppContext):
    """The fresh app context around one task's whole execution (its signal handlers included);
    ``AppContextTask.__call__`` knows from its type that the body can run directly."""

    if _LEAN:

        def push(self) -> None:
            self._cv_tokens.append(_cv_app.set(self))
            if appcontext_pushed.receivers:
                appcontext_pushed.send(self.app, _async_wrapper=self.app.ensure_sync)

        def pop(self, exc: BaseException | None = _NOT_GIVEN) -> None:  # type: ignore[assignment]
            app = self.app
            try:
                if len(self._cv_tokens) == 1 and _tears_down(app):
                    app.do_teardown_appcontext(sys.exc_info()[1] if exc is _NOT_GIVEN else exc)
            finally:
                current = _cv_app.get()
                _cv_app.reset(self._cv_tokens.pop())
            if current is not self:
                raise AssertionError(f"Popped wrong app context. ({current!r} instead of {self!r})")
            if appcontext_popped.receivers:
                appcontext_popped.send(app, _async_wrapper=app.ensure_sync)


def _tears_down(app: Flask) -> bool:
    """Whether popping has teardown work: a teardown function, a tearing-down receiver, or an app class
    with a teardown of its own."""
    return bool(app.teardown_appcontext_funcs or appcontext_tearing_down.receivers
                or type(app).do_teardown_appcontext is not _flask_teardown)
