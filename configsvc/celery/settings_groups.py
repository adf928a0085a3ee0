"""Which Celery settings decide how the broker, or the result backend, is reached."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

BROKER_PREFIXES = ("broker_",)
BACKEND_PREFIXES = ("result_backend", "redis_", "result_backend_transport_options", "database_",
                    "mongodb_", "cassandra_", "s3_", "azureblockblob_", "elasticsearch_", "couchbase_")


def broker_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings that make a broker connection."""
    return {key: value for key, value in settings.items() if key.startswith(BROKER_PREFIXES)}


def backend_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings that make a result-backend connection."""
    return {key: value for key, value in settings.items() if key.startswith(BACKEND_PREFIXES)}
