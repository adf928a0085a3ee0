"""The per-app state of :class:`configsvc.flask.ConfigService`: ``app.extensions["configsvc"]``.

One object per app holds what the app runs on (``config``), whether the last change was refused
(``state``, ``problem``), how many configurations were applied since start (``generation``) and the
``fingerprint``. It also knows how to resolve the app's configuration again (:meth:`ConfigState.resolve`)
and how to move the app to a new one (:meth:`ConfigState.switch`): the :class:`~configsvc.flask.reloader.
Reloader` calls both. Other parts of an app reach it through :func:`find_state`; the Celery binding
(:class:`configsvc.celery.binding.Binding`) takes part in every switch as a :class:`ReloadParticipant`.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from flask import Flask

from configsvc.core.config import Config
from configsvc.crypto.opening import format_change_problem
from configsvc.errors import Problem
from configsvc.flask.changes import apply_to_flask
from configsvc.flask.pinning import unpin

if TYPE_CHECKING:
    from configsvc.flask.extension import ConfigService
    from configsvc.flask.reloader import Reloader

logger = logging.getLogger("configsvc.reload")

EXTENSION_KEY = "configsvc"
State = Literal["ok", "stale"]


@dataclass(frozen=True)
class Decision:
    """What a participant says of a new configuration before anything changes.

    ``accept``: go ahead. ``defer``: not yet, try again later (the new broker cannot be reached while the
    current one can); SIGHUP, which is ``forced``, is never deferred. ``refuse``: stay on the current
    configuration (the broker refused the new credentials). ``problems`` say why (one line each, no value).
    """

    outcome: Literal["accept", "defer", "refuse"]
    problems: tuple[Problem, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.outcome == "accept"

    def __str__(self) -> str:
        return "; ".join(str(problem) for problem in self.problems) or self.outcome


ACCEPT = Decision("accept")


def refuse(*problems: Problem) -> Decision:
    return Decision("refuse", problems)


def defer(*problems: Problem) -> Decision:
    return Decision("defer", problems)


class ReloadParticipant(Protocol):
    """Something in the app that follows the configuration: :class:`configsvc.celery.binding.Binding`,
    or an app's own.

    ``check_config`` runs before a new configuration is applied and answers with a :class:`Decision`;
    ``apply_config`` switches over once every participant accepted it.
    """

    def check_config(self, old: Config, new: Config, *, forced: bool = False) -> Decision: ...

    def apply_config(self, old: Config, new: Config) -> None: ...


@dataclass(frozen=True)
class ResolveInputs:
    """What an app's configuration is resolved from besides the files: kept so a reload resolves exactly
    as ``init_app`` did (the same environment, overrides, folders, and ``app.config["CELERY"]``)."""

    environ: Mapping[str, str]
    overrides: Mapping[str, Any] | None
    root_path: str
    instance_path: str
    cwd: Path
    app_celery: Mapping[str, Any] | None


class ConfigState:
    """What one app runs on, and how its last reload went."""

    def __init__(self, service: ConfigService, app: Flask, config: Config, inputs: ResolveInputs) -> None:
        self.service = service
        #: The configuration in use (the last good one).
        self.config = config
        #: ``"ok"``, or ``"stale"`` while a changed file is refused.
        self.state: State = "ok"
        #: Why the last change was refused (one line, no values), or None.
        self.problem: str | None = None
        #: How many new configurations were applied since the app started.
        self.generation = 0
        #: A valid new configuration held until ``configsvc rollout`` applies it (``rollout.mode:
        #: staged``), or None.
        self.staged: Config | None = None
        #: What this process ran before the configuration a rollout applied: what a rollback returns to.
        self.before_rollout: Config | None = None
        #: Fingerprints a rollout rejected: never staged or applied again.
        self.rejected: set[str] = set()
        #: The fingerprint this process knows is settled (``rollout.mode: staged``): the one it started
        #: on, or the last a rollout completed (:mod:`configsvc.rollout.settled`).
        self.settled = config.fingerprint
        #: True in a process that hears ``configsvc rollout`` (a Celery worker and its pool processes, a
        #: web process once it served a request): only such a process stages a new configuration; others
        #: apply it as it is read.
        self.hears_rollout = False
        self.participants: list[ReloadParticipant] = []
        self.reloader: Reloader | None = None
        self.inputs = inputs
        self._app = weakref.ref(app)  # the app owns its state, not the other way round

    def __repr__(self) -> str:
        return f"<ConfigState {self.state}, generation {self.generation}, {self.config!r}>"

    @property
    def fingerprint(self) -> str:
        """The fingerprint of the configuration in use (see ``configsvc fleet``)."""
        return self.config.fingerprint

    @property
    def pending(self) -> str | None:
        """The fingerprint of the staged configuration, or None."""
        return self.staged.fingerprint if self.staged is not None else None

    @property
    def app(self) -> Flask | None:
        """The app, or None once it is gone (its reloader then stops)."""
        return self._app()

    def add_participant(self, participant: ReloadParticipant) -> None:
        """Make ``participant`` check and follow every new configuration."""
        if participant not in self.participants:
            self.participants.append(participant)

    def resolve(self) -> Config:
        """Resolve the app's configuration again, from the same inputs (raises ConfigError)."""
        inputs = self.inputs
        return self.service.resolve(inputs.environ, inputs.overrides, root_path=inputs.root_path,
                                    instance_path=inputs.instance_path, cwd=inputs.cwd, emit_warnings=False,
                                    app_celery=inputs.app_celery)

    def switch(self, new: Config, *, forced: bool = False) -> Decision:
        """Move the app to ``new`` if nothing refuses or defers it: the file's format may not change
        (see :func:`configsvc.crypto.opening.format_change_problem`), then every participant checks it,
        then ``app.config``, the participants and the app's ``on_reload`` hooks switch."""
        app, old = self.app, self.config
        if app is None:
            return refuse(Problem("the app is gone", kind="config"))
        problem = format_change_problem(old.encryption, new.encryption, self.inputs.environ,
                                        path=new.deployment_file)
        if problem is not None:
            return refuse(problem)
        for participant in self.participants:
            decision = participant.check_config(old, new, forced=forced)
            if not decision.accepted:
                return decision
        apply_to_flask(app, old.flask_mapping(), new.flask_mapping())
        unpin(self)  # a request or task that reloaded reads what it applied
        for participant in self.participants:
            participant.apply_config(old, new)
        hooks = [("on_reload", hook) for hook in self.service.reload_hooks]
        hooks += [("on_change", hook) for keys, hook in self.service.change_hooks
                  if any(changed(old, new, key) for key in keys)]
        for kind, hook in hooks:
            try:
                hook(old, new)
            except Exception as error:  # the configuration is applied; one hook must not undo it
                logger.error("configsvc: the %s hook %s failed (%s)", kind,
                             getattr(hook, "__qualname__", hook), type(error).__name__)
        return ACCEPT

    def reload(self, force: bool = True) -> bool:
        """Read the sources again now (``force``: even if no file changed); True when a new configuration
        was applied."""
        return self.reloader.check(force) if self.reloader is not None else False

    def wait_for_change(self, generation: int, timeout: float) -> bool:
        """Wait until a configuration newer than ``generation`` is applied; False on timeout."""
        return self.reloader.wait_for_change(generation, timeout) if self.reloader is not None else False

    def sighup_handler(self) -> Callable[..., None] | None:
        """A signal handler that asks for a reload, for frameworks that own signal installation."""
        return self.reloader.sighup_handler() if self.reloader is not None else None


_ABSENT = object()


def changed(old: Config, new: Config, key: str) -> bool:
    """True when the value at the dotted key, or any value under it, differs between two configurations
    (secrets compared by their real values; a key that appears or goes counts)."""
    return bool(old.reveal(key, _ABSENT) != new.reveal(key, _ABSENT))


def find_state(app: Flask) -> ConfigState | None:
    """The app's configsvc state, or None when the app does not use ``ConfigService``."""
    state = app.extensions.get(EXTENSION_KEY)
    return state if isinstance(state, ConfigState) else None
