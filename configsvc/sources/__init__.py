"""Where configuration comes from. The order of the sources is set here, and only here."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from configsvc.sources.base import KeyPath, Layer, Source
from configsvc.sources.deployment import DeploymentFile, deployment_path
from configsvc.sources.environ import EnvironmentVariables
from configsvc.sources.overrides import Overrides
from configsvc.sources.settings_file import DEFAULT_SECTION, SettingsFile, SettingsSection

__all__ = ["KeyPath", "Layer", "SettingsFile", "Source", "standard_sources"]


def standard_sources(
    settings: SettingsFile,
    env: str,
    environ: Mapping[str, str],
    overrides: Mapping[str, Any] | None,
    cwd: Path | None = None,
) -> list[Source]:
    """The sources in precedence order, lowest first (the contract's table)."""
    return [
        SettingsSection(settings, DEFAULT_SECTION),
        SettingsSection(settings, env),
        DeploymentFile(deployment_path(environ, cwd), environ),
        EnvironmentVariables(environ),
        Overrides(overrides),
    ]
