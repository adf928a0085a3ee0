"""The per-app state of :class:`configsvc.flask.ConfigService`: ``app.extensions["configsvc"]``.

One object per app holds what the app runs on (``config``), whether the last change was refused
(``state``, ``problem``), how many configurations were applied since start (``generation``) and the
``fingerprint``. Other parts of an app (the Celery binding, the health view) reach it through
:func:`find_state`, and take part in reloads as a :class:`ReloadParticipant`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, Protocol

from flask import Flask

from configsvc.core.config import Config

if TYPE_CHECKING:
    from configsvc.flask.extension import ConfigService
    from configsvc.flask.reloader import Reloader

EXTENSION_KEY = "configsvc"
State = Literal["ok", "stale"]


class ReloadParticipant(Protocol):
    """Something in the app that follows the configuration (the Celery binding).

    ``check_config`` runs before a new configuration is applied and may refuse it by raising
    :class:`configsvc.ConfigError` (the broker refused the new credentials), or put it off with
    :class:`configsvc.Deferred` (tried again later; ``forced`` is True for SIGHUP, which must not be put
    off); ``apply_config`` switches over once every participant accepted it.
    """

    def check_config(self, old: Config, new: Config, *, forced: bool = False) -> None: ...

    def apply_config(self, old: Config, new: Config) -> None: ...


class ConfigState:
    """What one app runs on, and how its last reload went."""

    def __init__(self, service: ConfigService, config: Config) -> None:
        self.service = service
        #: The configuration in use (the last good one).
        self.config = config
        #: ``"ok"``, or ``"stale"`` while a changed file is refused.
        self.state: State = "ok"
        #: Why the last change was refused (one line, no values), or None.
        self.problem: str | None = None
        #: How many new configurations were applied since the app started.
        self.generation = 0
        self.participants: list[ReloadParticipant] = []
        self.reloader: Reloader | None = None

    def __repr__(self) -> str:
        return f"<ConfigState {self.state}, generation {self.generation}, {self.config!r}>"

    @property
    def fingerprint(self) -> str:
        """The fingerprint of the configuration in use (see ``configsvc fleet``)."""
        return self.config.fingerprint

    def add_participant(self, participant: ReloadParticipant) -> None:
        """Make ``participant`` check and follow every new configuration."""
        if participant not in self.participants:
            self.participants.append(participant)

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


def find_state(app: Flask) -> ConfigState | None:
    """The app's configsvc state, or None when the app does not use ``ConfigService``."""
    state = app.extensions.get(EXTENSION_KEY)
    return state if isinstance(state, ConfigState) else None
