"""Finding an app's ``ConfigService`` without configuring the app: what the CLI needs.

``configsvc check`` must report a bad configuration, so it cannot let the app's factory resolve it. While
:func:`discovering` is active, ``ConfigService.init_app`` hands its service and the app to the caller and
stops the factory there (nothing resolved, nothing watched, no thread started).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from flask import Flask

if TYPE_CHECKING:
    from configsvc.flask.extension import ConfigService


class Discovered(BaseException):
    """Carries the service and app out of the factory (a BaseException, so ``except Exception`` in a
    factory cannot swallow it)."""

    def __init__(self, service: ConfigService, app: Flask) -> None:
        super().__init__("configsvc: discovering the app's configuration options")
        self.service = service
        self.app = app


_active: ContextVar[bool] = ContextVar("configsvc_discovering", default=False)


@contextmanager
def discovering() -> Iterator[None]:
    """While active, ``ConfigService.init_app`` raises :class:`Discovered` instead of configuring."""
    token = _active.set(True)
    try:
        yield
    finally:
        _active.reset(token)


def offer(service: ConfigService, app: Flask) -> None:
    """Called by ``init_app``: stop here and hand over the service when discovering."""
    if _active.get():
        raise Discovered(service, app)
