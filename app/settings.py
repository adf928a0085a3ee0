"""The reference app's own settings: a typed model (``ConfigService(settings=Settings)``).

configsvc types Flask's keys and the ``celery`` section itself; this model types the keys the reference
app adds. ``config.settings`` is its frozen instance for the current request or task.
"""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr


class Settings(BaseModel):
    #: The port ``python -m app`` and ``make run`` serve on.
    port: int = Field(5000, ge=1, le=65535)
    #: Enables ``GET /config`` (``Authorization: Bearer <admin_token>``); unset, that route is 404.
    admin_token: SecretStr | None = None
