"""configsvc: layered, typed, validated and redacted configuration for Flask apps that run Celery."""

from configsvc.core.config import Config, Entry, Explanation, LayerValue
from configsvc.core.redaction import Secret, is_secret_key, mask_url, redact
from configsvc.core.resolve import resolve
from configsvc.errors import (
    CeleryNotConfigured,
    ConfigError,
    ConfigWarning,
    DecryptError,
    FileError,
    Problem,
    ValidationError,
)

__all__ = [
    "CeleryNotConfigured",
    "Config",
    "ConfigError",
    "ConfigWarning",
    "DecryptError",
    "Entry",
    "Explanation",
    "FileError",
    "LayerValue",
    "Problem",
    "Secret",
    "ValidationError",
    "is_secret_key",
    "mask_url",
    "redact",
    "resolve",
]
