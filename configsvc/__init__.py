"""configsvc: layered, typed, validated and redacted configuration for Flask apps that run Celery.

Adopt it with ``configsvc.flask.ConfigService`` and ``configsvc.celery.FlaskCelery``; the names here are
what both hand out (the resolved :class:`Config`, its errors and secrets) and :func:`resolve` for code
that needs a configuration without an app.

Each name is imported when first used (``import configsvc`` alone loads neither dynaconf nor Celery), so
the ``configsvc`` command starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from configsvc.errors import (
    AlreadyRegistered,
    CeleryNotConfigured,
    ConfigError,
    ConfigUsageError,
    ConfigWarning,
    DecryptError,
    FileError,
    Problem,
    ValidationError,
)
from configsvc.lazy import lazy_exports

if TYPE_CHECKING:
    from configsvc.core.config import Config, Entry, Explanation, LayerValue
    from configsvc.core.redaction import Secret, is_secret_key, mask_url, masked, redact
    from configsvc.options import Options
    from configsvc.resolution import resolve

__all__ = [
    "AlreadyRegistered",
    "CeleryNotConfigured",
    "Config",
    "ConfigError",
    "ConfigUsageError",
    "ConfigWarning",
    "DecryptError",
    "Entry",
    "Explanation",
    "FileError",
    "LayerValue",
    "Options",
    "Problem",
    "Secret",
    "ValidationError",
    "is_secret_key",
    "mask_url",
    "masked",
    "redact",
    "resolve",
]

_LAZY = {
    "Config": "configsvc.core.config", "Entry": "configsvc.core.config",
    "Explanation": "configsvc.core.config", "LayerValue": "configsvc.core.config",
    "Secret": "configsvc.core.redaction", "is_secret_key": "configsvc.core.redaction",
    "mask_url": "configsvc.core.redaction", "masked": "configsvc.core.redaction",
    "redact": "configsvc.core.redaction", "resolve": "configsvc.resolution", "Options": "configsvc.options",
}


_imported = lazy_exports(__name__, globals(), _LAZY)


def __getattr__(name: str) -> Any:
    if name == "__version__":  # from the installed package's metadata
        from importlib.metadata import version

        return version("configsvc")
    return _imported(name)


def __dir__() -> list[str]:
    return sorted([*__all__, "__version__"])
