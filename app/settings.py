"""The reference app's own settings: a typed model (``ConfigService(settings=Settings)``).

configsvc types Flask's keys and the ``celery`` section itself; this model types the keys the reference
app adds. ``config.settings`` is its frozen instance for the current request or task. A dataclass, so the
reference app does not import pydantic (a pydantic model works the same way: ``tests/catalog``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated


@dataclass
class Settings:
    #: The port ``python -m app`` and ``make run`` serve on (1 to 65535, in every layer).
    port: Annotated[int, range(1, 65536)] = 5000
    #: Enables ``GET /config`` (``Authorization: Bearer <admin_token>``); unset, that route is 404. Secret
    #: by its name.
    admin_token: str | None = None
