"""configsvc: layered, typed, validated and redacted configuration for Flask apps that run Celery."""

from configsvc.config import Config, Entry, Explanation, LayerValue
from configsvc.errors import (
    CeleryNotConfigured,
    ConfigError,
    ConfigWarning,
    DecryptError,
    FileError,
    Problem,
    ValidationError,
)
from configsvc.redaction import Secret, is_secret_key, mask_url, redact
from configsvc.resolve import resolve

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
