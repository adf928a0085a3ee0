"""The app context a worker pushes around each task: Flask's own, without the cost of signals nobody hears.

:class:`TaskAppContext` is Flask's ``AppContext`` under a type of its own (``AppContextTask`` knows from
it that the task body can run directly). :class:`LeanTaskAppContext` pushes and pops it the way Flask 3.1
does, skipping only the signal sends that would reach nobody (:mod:`configsvc.flask.flask_internals`).
:func:`task_context_class` picks the lean one where the installed Flask still pushes and pops as 3.1 does,
and Flask's own everywhere else (Flask 3.2 changes both).
"""

from __future__ import annotations

from flask.ctx import AppContext

from configsvc.flask import flask_internals


class TaskAppContext(AppContext):
    """The fresh app context around one task's whole execution (its signal handlers included), pushed
    and popped by Flask's own code. A task is a unit of work: it reads one configuration from start to
    end (:mod:`configsvc.flask.pinning`)."""

    configsvc_unit_of_work = True


class LeanTaskAppContext(TaskAppContext):
    """A :class:`TaskAppContext` that skips the signal sends nobody listens to."""

    def push(self) -> None:
        flask_internals.push(self)

    def pop(self, exc: BaseException | None = flask_internals.NOT_GIVEN) -> None:
        flask_internals.pop(self, exc)


def task_context_class(flask_context: type[AppContext] = AppContext) -> type[TaskAppContext]:
    """The context class to push around tasks: the lean one when ``flask_context`` (Flask's) pushes and
    pops as Flask 3.1 does, else Flask's own."""
    return LeanTaskAppContext if flask_internals.lean_contexts_supported(flask_context) else TaskAppContext
