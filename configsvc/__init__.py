"""configsvc: layered, typed, validated and redacted configuration for Flask apps that run Celery.

Adopt it with ``configsvc.flask.ConfigService`` and ``configsvc.celery.FlaskCelery``; the names here are
what both hand out (the resolved :class:`Config`, its errors and secrets) and :func:`resolve` for code
that needs a configuration without an app.
"""

from configsvc.core.config import Config, Entry, Explanation, LayerValue
from configsvc.core.redaction import Secret, is_secret_key, mask_url, masked, redact
from configsvc.core.resolve import resolve
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
from configsvc.options import Options

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


def __getattr__(name: str) -> str:
    # ``configsvc.__version__`` from the installed package's metadata, read when first asked for.
    if name == "__version__":
        from importlib.metadata import version

        return version("configsvc")
    raise AttributeError(f"module 'configsvc' has no attribute {name!r}")
