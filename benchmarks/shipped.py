"""configsvc's shipped Celery settings, for the baselines: they must differ from configsvc in integration
only, never in settings."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path
from typing import Any

import yaml


def shipped_celery_settings() -> dict[str, Any]:
    """The ``celery`` section of configsvc's own defaults file, read with plain PyYAML (without importing
    configsvc, so the bare-Celery anchor loads no Flask)."""
    spec = find_spec("configsvc")
    assert spec is not None and spec.origin is not None
    text = (Path(spec.origin).parent / "defaults.yaml").read_text(encoding="utf-8")
    settings: dict[str, Any] = yaml.safe_load(text)["celery"]
    return settings
