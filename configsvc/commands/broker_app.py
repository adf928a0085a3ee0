"""The Celery app a command connects with: the broker and backend settings the configuration names, and
the credentials its providers give (this process asks them for its own, as every process does)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from celery import Celery
    from kombu.connection import Connection

    from configsvc.core.config import Config
    from configsvc.credentials.provided import ProvidedCredentials


def command_app(config: Config, name: str, credentials: ProvidedCredentials | None = None) -> Celery:
    """A plain Celery app on the broker ``config`` names (closed by the caller, which also closes the
    credentials). ``credentials``: the providers' already fetched; otherwise each provider is asked
    once, and refreshed while the command runs."""
    from configsvc.celery.celery_internals import PlaceholderHooks  # here: other commands need no Celery
    from configsvc.celery.connections import Connections
    from configsvc.celery.embedded import embedded_settings
    from configsvc.celery.renewal import Renewal
    from configsvc.credentials.provided import ProvidedCredentials

    if credentials is None:
        credentials = ProvidedCredentials.from_config(config, os.environ)
    settings = embedded_settings(dict(config.celery_settings()))  # a filesystem:// broker as workers use it
    renewal: Renewal | None = None

    class CommandApp(PlaceholderHooks):
        def connection_built(self, connection: Connection) -> Connection:
            return renewal.connection(connection) if renewal is not None else connection

        def close(self) -> None:
            super().close()
            if renewal is not None:
                renewal.close()

    app = CommandApp(name, set_as_current=False)
    app.conf.update(settings)
    if credentials:  # a new user while the command runs: its next connections are made as that user
        renewal = Renewal(credentials, settings, Connections(app, None))
    return app
